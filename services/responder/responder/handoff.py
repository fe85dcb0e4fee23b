"""When a customer asks for a person: keywords, accent- and case-insensitive, whole words."""

import re
import unicodedata
from collections.abc import Iterable

# Defaults in the languages our customers write most; a tenant adds its own.
DEFAULT_HANDOFF_KEYWORDS: tuple[str, ...] = (
    # English
    "human",
    "agent",
    "a person",
    "real person",
    "representative",
    "operator",
    "speak to someone",
    "talk to someone",
    "customer service",
    # Portuguese
    "humano",
    "atendente",
    "uma pessoa",
    "falar com alguem",
    "pessoa real",
    # Spanish
    "persona real",
    "una persona",
    "hablar con alguien",
    "asesor",
    "operador",
    # French
    "humain",
    "conseiller",
    "une personne",
    "parler a quelqu'un",
    # German
    "mensch",
    "mitarbeiter",
    "echte person",
    # Italian
    "operatore",
    "umano",
    "una persona reale",
)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def asks_for_person(text: str, keywords: Iterable[str]) -> str | None:
    """The keyword found in `text`, if any."""
    folded = _fold(text)
    for keyword in keywords:
        needle = _fold(keyword).strip()
        if needle and re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", folded):
            return keyword
    return None
