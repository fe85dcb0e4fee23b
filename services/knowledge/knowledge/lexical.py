"""The keyword signal: BM25 over a tenant's passages, in memory, with typo tolerance.

Why not Postgres full text for this: customers write long questions ("we're a group of 12
friends visiting Copenhagen in June, is there a group discount on bike rentals?"). Every
term is in no passage, and ranking passages with only some of them needs the terms' rarity
(IDF), which `ts_rank_cd` ignores: common words then outrank the one that matters. BM25
weighs each term by its rarity in the tenant's own passages.

Typos ("warrenty", "copenhagn", "shiping") are corrected against the tenant's vocabulary:
a query word the passages never use is replaced by the most frequent vocabulary word within
edit distance 1 (2 for words of 7 letters or more), if there is one.

Built from the passages (context and text) when a tenant is first searched at a corpus
version, in a thread, with the embedding matrix (embeddings.build_matrix) and held with it in
the one byte-bounded cache; ~1 s per 50,000 passages.
"""

import functools
import re
import sys
import unicodedata
from array import array
from collections import Counter
from dataclasses import dataclass

import numpy as np
from rapidfuzz import distance, process

K1 = 1.2
B = 0.75

# English function words and chat fillers: they carry no topic. Other languages' function
# words are common in their passages, so their IDF is low anyway.
_STOP = (
    "a an the and or but of to in on for with at by from is are was were be been being it its"
    " this that these those i me my we our us you your u he she they them their do does did"
    " doing can could will would should shall may might must have has had having not no yes"
    " if then than so as what which who whom when where why how there here about into over"
    " after before under again once all any both each few more most other some such only own"
    " same too very just also am im ive dont isnt cant hi hello please thanks pls"
)
STOP_WORDS = frozenset(_STOP.split())
_WORD = re.compile(r"[a-z0-9€$£]+(?:[.,'][a-z0-9]+)*")


def _numpy(values: "array[int]") -> np.ndarray:  # quoted: subscriptable from 3.12 only
    """An int32 view on an array('i') (no copy), empty included."""
    return np.frombuffer(values, dtype=np.int32) if values else np.zeros(0, dtype=np.int32)


def _python_bytes(terms: dict[str, int], vocabulary: list[str]) -> int:
    """The dict, its strings and its (non-cached) ints, and the vocabulary list."""
    strings = sum(sys.getsizeof(term) for term in terms)
    ints = sum(sys.getsizeof(column) for column in terms.values() if column > 256)
    return sys.getsizeof(terms) + strings + ints + sys.getsizeof(vocabulary)


def _fold(text: str) -> str:
    """Lower case without accents: "Zürich" and "zurich" are one word."""
    text = text.lower()
    if text.isascii():  # the common case, and 10x faster than normalising
        return text
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch))


# Shared by every tenant, outside the cache's byte bound: ~170 bytes per word, ~9 MB full.
@functools.lru_cache(maxsize=50_000)
def _stem(word: str) -> str:
    """Plural and possessive endings only: conservative, and harmless in other languages.
    "-es" is a plural ending after s, x, z, ch and sh only (boxes, watches): "bikes" is
    "bike" + "s", as "prices" and "tyres" are."""
    if len(word) <= 4 or word.endswith("ss"):
        return word
    if word.endswith("'s"):
        return word[:-2]
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("es") and word[:-2].endswith(("s", "x", "z", "ch", "sh")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


def tokens(text: str) -> list[str]:
    stem = _stem
    return [stem(w) for w in _WORD.findall(_fold(text)) if w not in STOP_WORDS]


@dataclass(frozen=True)
class LexicalIndex:
    """Postings in flat numpy arrays (no Python object per passage or occurrence), so that
    `nbytes` is what the index holds and the cache's one byte bound covers it too. The
    BM25 weight is computed per query term from the term frequency (1 byte) at search time:
    5 bytes per (term, passage) instead of the 8 of a sparse matrix of float weights."""

    terms: dict[str, int]  # term -> column
    vocabulary: list[str]  # correction candidates (letters only, 4+ characters)
    document_frequency: np.ndarray  # (T,) int32
    idf: np.ndarray  # (T,) float32
    starts: np.ndarray  # (T + 1,) int64: term t's postings are [starts[t], starts[t + 1])
    rows: np.ndarray  # (P,) int32: the passages of each term, in row order
    frequencies: np.ndarray  # (P,) uint8: the term's count in that passage (capped at 255)
    norm: np.ndarray  # (N,) float32: K1 * (1 - B + B * length / average length)
    nbytes: int  # what all this holds in memory (arrays, and the terms' dict and strings)

    @property
    def size(self) -> int:
        return int(self.norm.shape[0])

    @classmethod
    def build(cls, passages: list[str]) -> "LexicalIndex":
        """CPU work (~1 s per 50,000 passages): run it in a thread."""
        terms: dict[str, int] = {}
        columns = array("i")  # term of each (passage, term), passage by passage
        counts = array("i")
        per_passage = array("i")  # distinct terms of each passage
        lengths = array("i")
        for passage in passages:
            words = tokens(passage)
            tf = Counter(words)
            lengths.append(len(words))
            per_passage.append(len(tf))
            columns.extend([terms.setdefault(word, len(terms)) for word in tf])
            counts.extend(tf.values())
        n, t = len(passages), len(terms)
        cols = _numpy(columns)
        rows = np.repeat(np.arange(n, dtype=np.int32), _numpy(per_passage))
        # Grouped by term, each group in passage order (a stable sort releases the GIL).
        order = np.argsort(cols, kind="stable")
        frequencies = np.minimum(_numpy(counts)[order], 255).astype(np.uint8)
        rows = rows[order]
        df = np.bincount(cols, minlength=t).astype(np.int32)
        del order, cols
        starts = np.zeros(t + 1, dtype=np.int64)
        np.cumsum(df, out=starts[1:])
        length = _numpy(lengths).astype(np.float32)
        average = float(length.mean()) if n else 1.0
        norm = (K1 * (1 - B + B * length / max(average, 1.0))).astype(np.float32)
        idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        vocabulary = [term for term in terms if len(term) >= 4 and term.isalpha()]
        arrays = (df, idf, starts, rows, frequencies, norm)
        held = sum(a.nbytes for a in arrays) + _python_bytes(terms, vocabulary) + 1024
        return cls(terms, vocabulary, df, idf, starts, rows, frequencies, norm, held)

    def correct(self, word: str) -> str:
        """The word, or the tenant's most frequent word one typo away (two for long words)."""
        if word in self.terms or len(word) < 4 or not word.isalpha():
            return word
        limit = 1 if len(word) < 7 else 2
        matches = process.extract(
            word,
            self.vocabulary,
            scorer=distance.Levenshtein.distance,
            score_cutoff=limit,
            limit=5,
        )
        if not matches:
            return word
        best = min(matches, key=lambda m: (m[1], -self.document_frequency[self.terms[m[0]]]))
        return str(best[0])

    def split(self, word: str) -> list[str]:
        """Two of the tenant's words run together ("kingsday", "ebikeshop"), when the word
        itself is none of them and no typo of one: the split whose rarer half is most
        common, each half at least 3 letters."""
        if word in self.terms or len(word) < 6 or not word.isalpha():
            return [word]
        best: tuple[int, list[str]] | None = None
        for i in range(3, len(word) - 2):
            halves = [_stem(word[:i]), word[i:]]
            if all(h in self.terms for h in halves):
                common = min(int(self.document_frequency[self.terms[h]]) for h in halves)
                if best is None or common > best[0]:
                    best = (common, halves)
        return best[1] if best else [word]

    def query_terms(self, query: str) -> list[str]:
        """The query's words, each corrected or split when the tenant never uses it; not when
        most of them are unknown: a question in another language ("Gibt es bei euch…") has
        no typos to fix, only false friends to make ("gibt" into "gift")."""
        words = list(dict.fromkeys(tokens(query)))
        if sum(1 for w in words if w not in self.terms) * 2 > len(words):
            return words
        terms: list[str] = []
        for word in words:
            corrected = self.correct(word)
            terms.extend(self.split(corrected) if corrected == word else [corrected])
        return list(dict.fromkeys(terms))

    def scores(self, query: str) -> np.ndarray:
        """BM25 of every passage for the (corrected) query; 0 where no term occurs."""
        return self._scores(self.query_terms(query))

    def _scores(self, terms: list[str]) -> np.ndarray:
        total = np.zeros(self.size, dtype=np.float32)
        for term in terms:
            column = self.terms.get(term)
            if column is None:
                continue
            start, end = self.starts[column], self.starts[column + 1]
            rows = self.rows[start:end]
            tf = self.frequencies[start:end].astype(np.float32)
            total[rows] += tf * (K1 + 1) / (tf + self.norm[rows]) * self.idf[column]
        return total

    def coverage(self, query: str) -> np.ndarray:
        """BM25 of every passage as a share of the query's weight: the IDF of each of its
        (corrected) words, a word no passage uses counting as the rarest. A passage with all
        the words, each once, at the average length scores about 1; one that shares only a
        name with a question in another language scores little, however it compares with
        the other passages."""
        terms = self.query_terms(query)
        unknown = float(np.log1p((self.size + 0.5) / 0.5))
        weight = sum(float(self.idf[self.terms[t]]) if t in self.terms else unknown for t in terms)
        if weight <= 0.0:
            return np.zeros(self.size, dtype=np.float32)
        return self._scores(terms) / np.float32(weight)

    def top_k(self, query: str, k: int) -> list[tuple[int, float]]:
        """(passage row, BM25) of the k best passages with at least one query term."""
        scores = self.scores(query)
        hits = np.flatnonzero(scores)
        if hits.size == 0:
            return []
        k = min(k, hits.size)
        best = hits[np.argpartition(-scores[hits], k - 1)[:k]]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(int(i), float(scores[i])) for i in best]
