"""From what a model writes to what WhatsApp shows: its own markup, within its size limit."""

import re

WHATSAPP_LIMIT = 4096

_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$", re.MULTILINE)
_BULLET = re.compile(r"^(\s*)[*+]\s+", re.MULTILINE)


def to_whatsapp(text: str) -> str:
    """Markdown to WhatsApp: *bold*, _italic_, no headings or tables, links spelled out."""
    text = _HEADING.sub(lambda m: f"*{m.group(1)}*", text)
    text = _BULLET.sub(lambda m: f"{m.group(1)}- ", text)
    text = _BOLD.sub(lambda m: f"*{m.group(1) or m.group(2)}*", text)
    text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
    text = _TABLE_RULE.sub("", text)
    lines = []
    for line in text.splitlines():
        if line.strip().startswith("|") and line.strip().endswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            line = " — ".join(c for c in cells if c)
        lines.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def split_message(text: str, limit: int = WHATSAPP_LIMIT) -> list[str]:
    """Split a long answer politely: at paragraphs, then sentences, then words."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for piece in _pieces(text, limit):
        candidate = f"{current}{piece}" if current else piece.lstrip()
        if len(candidate) <= limit:
            current = candidate
        else:
            parts.append(current.rstrip())
            current = piece.lstrip()
    if current.strip():
        parts.append(current.rstrip())
    return parts


def _pieces(text: str, limit: int) -> list[str]:
    out: list[str] = []
    for paragraph in re.split(r"(?<=\n\n)", text):
        if len(paragraph) <= limit:
            out.append(paragraph)
            continue
        for sentence in re.split(r"(?<=[.!?。])\s+", paragraph):
            while len(sentence) > limit:  # one enormous sentence: cut at a space
                cut = sentence.rfind(" ", 0, limit)
                cut = cut if cut > 0 else limit
                out.append(sentence[:cut])
                sentence = sentence[cut:]
            out.append(sentence + " ")
    return out
