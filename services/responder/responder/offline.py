"""The built-in responder for when no LLM key is set: it quotes the best passage it found,
with its source, and never composes facts of its own."""

import re
import unicodedata

from responder.prompts import Passage

_WORD = re.compile(r"\w+", re.UNICODE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
# Words too common to say what a question is about.
_STOP = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "de",
        "do",
        "does",
        "for",
        "from",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "please",
        "the",
        "to",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "o",
        "os",
        "um",
        "uma",
        "e",
        "da",
        "que",
        "para",
        "com",
        "em",
        "el",
        "la",
        "los",
        "las",
        "un",
        "una",
        "y",
        "es",
        "en",
        "por",
    }
)


def _terms(text: str) -> set[str]:
    folded = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return {w for w in _WORD.findall(plain) if w not in _STOP and len(w) > 1}


def extractive_answer(question: str, passage: Passage, max_chars: int = 700) -> str:
    """The passage's sentences that share most words with the question, in their order."""
    wanted = _terms(question)
    sentences = [s.strip() for s in _SENTENCE.split(passage.text.strip()) if s.strip()]
    ranked = sorted(
        range(len(sentences)), key=lambda i: len(wanted & _terms(sentences[i])), reverse=True
    )
    chosen: list[int] = []
    size = 0
    for i in ranked:
        if chosen and (size + len(sentences[i]) > max_chars or not wanted & _terms(sentences[i])):
            break
        chosen.append(i)
        size += len(sentences[i])
    quote = " ".join(sentences[i] for i in sorted(chosen)) or passage.text[:max_chars]
    return f"{quote}\n\n_Source: {passage.source}_"
