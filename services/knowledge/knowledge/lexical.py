"""The keyword signal: BM25 over a tenant's passages, in memory, with typo tolerance.

Why not Postgres full text for this: customers write long questions ("we're a group of 12
friends visiting Copenhagen in June, is there a group discount on bike rentals?"). Every
term is in no passage, and ranking passages with only some of them needs the terms' rarity
(IDF), which `ts_rank_cd` ignores: common words then outrank the one that matters. BM25
weighs each term by its rarity in the tenant's own passages.

Typos ("warrenty", "copenhagn", "shiping") are corrected against the tenant's vocabulary:
a query word the passages never use is replaced by the most frequent vocabulary word within
edit distance 1 (2 for words of 7 letters or more), if there is one.

Built from the passages (text and context) when a tenant is first searched at a corpus
version, like the embedding matrix; ~1 s per 50,000 passages.
"""

import functools
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

import numpy as np
from rapidfuzz import distance, process
from scipy import sparse

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


def _fold(text: str) -> str:
    """Lower case without accents: "Zürich" and "zurich" are one word."""
    text = text.lower()
    if text.isascii():  # the common case, and 10x faster than normalising
        return text
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch))


@functools.lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    """Plural and possessive endings only: conservative, and harmless in other languages."""
    for suffix in ("'s", "ies", "es", "s"):
        if len(word) > 4 and word.endswith(suffix) and not word.endswith("ss"):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def tokens(text: str) -> list[str]:
    stem = _stem
    return [stem(w) for w in _WORD.findall(_fold(text)) if w not in STOP_WORDS]


@dataclass(frozen=True)
class LexicalIndex:
    terms: dict[str, int]  # term -> column
    vocabulary: list[str]  # correction candidates (letters only, 4+ characters)
    document_frequency: np.ndarray  # (T,) int
    weights: sparse.csc_matrix  # (N passages, T terms): BM25 term weight per passage
    size: int

    @classmethod
    def build(cls, passages: list[str]) -> "LexicalIndex":
        terms: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        counts: list[int] = []
        lengths = np.zeros(len(passages), dtype=np.float32)
        for i, passage in enumerate(passages):
            words = tokens(passage)
            lengths[i] = len(words)
            tf = Counter(words)
            rows += [i] * len(tf)
            cols += [terms.setdefault(word, len(terms)) for word in tf]
            counts += tf.values()
        n = len(passages)
        tf_matrix = sparse.csr_matrix(
            (np.asarray(counts, dtype=np.float32), (rows, cols)), shape=(n, len(terms))
        )
        df = np.asarray((tf_matrix > 0).sum(axis=0)).ravel()
        average = float(lengths.mean()) if n else 1.0
        # Saturated term frequency, normalised by passage length (BM25), times the IDF.
        norm = K1 * (1 - B + B * lengths / max(average, 1.0))
        coo = tf_matrix.tocoo()
        tf = coo.data
        saturated = tf * (K1 + 1) / (tf + norm[coo.row])
        idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        weights = sparse.csc_matrix(
            (saturated * idf[coo.col], (coo.row, coo.col)), shape=(n, len(terms))
        )
        vocabulary = [t for t in terms if len(t) >= 4 and t.isalpha()]
        return cls(terms, vocabulary, df, weights, n)

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

    def query_terms(self, query: str) -> list[str]:
        return [self.correct(w) for w in dict.fromkeys(tokens(query))]

    def scores(self, query: str) -> np.ndarray:
        """BM25 of every passage for the (corrected) query; 0 where no term occurs."""
        total = np.zeros(self.size, dtype=np.float32)
        for term in self.query_terms(query):
            column = self.terms.get(term)
            if column is None:
                continue
            start, end = self.weights.indptr[column], self.weights.indptr[column + 1]
            total[self.weights.indices[start:end]] += self.weights.data[start:end]
        return total

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
