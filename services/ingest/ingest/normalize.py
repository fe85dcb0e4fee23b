"""What a stored message shows of Meta's object: readable text, media metadata, context.

Every inbound type of docs/whatsapp.md maps to a text a person (or the AI) can read; the raw
object is stored beside it, so nothing Meta sent is lost.
"""

from typing import Any

MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
PREVIEW_CHARS = 200


def _content(message: dict[str, Any], kind: str) -> dict[str, Any]:
    value = message.get(kind)
    return value if isinstance(value, dict) else {}


def _s(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def message_text(kind: str, message: dict[str, Any]) -> str | None:
    """The text body, the caption, the button/list title, the reaction emoji, a place…"""
    content = _content(message, kind)
    if kind == "text":
        return _s(content.get("body"))
    if kind in MEDIA_TYPES:
        return _s(content.get("caption")) or _s(content.get("filename"))
    if kind == "location":
        parts = [_s(content.get("name")), _s(content.get("address"))]
        named = ", ".join(p for p in parts if p)
        return named or f"{content.get('latitude')}, {content.get('longitude')}"
    if kind == "contacts":
        found = message.get("contacts")
        cards = found if isinstance(found, list) else []
        names = []
        for card in cards:
            name = card.get("name") if isinstance(card, dict) else None
            phones = card.get("phones") if isinstance(card, dict) else None
            label = _s(name.get("formatted_name")) if isinstance(name, dict) else None
            if isinstance(phones, list) and phones and isinstance(phones[0], dict):
                phone = _s(phones[0].get("phone")) or _s(phones[0].get("wa_id"))
                label = f"{label} ({phone})" if label and phone else label or phone
            if label:
                names.append(label)
        return "; ".join(names) or None
    if kind == "interactive":
        sub = _s(content.get("type")) or ""
        chosen = content.get(sub)
        reply = chosen if isinstance(chosen, dict) else {}
        if sub == "nfm_reply":
            return _s(reply.get("body")) or _s(reply.get("name"))
        return _s(reply.get("title")) or _s(reply.get("description")) or _s(reply.get("id"))
    if kind == "button":
        return _s(content.get("text")) or _s(content.get("payload"))
    if kind == "reaction":
        return _s(content.get("emoji"))  # None: the reaction was removed
    if kind == "order":
        products = content.get("product_items")
        items = products if isinstance(products, list) else []
        return _s(content.get("text")) or f"order of {len(items)} item(s)"
    if kind == "system":
        return _s(content.get("body"))
    if kind == "unsupported":
        return f"unsupported message ({_s(content.get('type')) or 'unknown'})"
    if kind in ("edit", "revoke"):
        return None
    # An unknown type: the first string we can find is better than nothing.
    for value in message.values():
        if isinstance(value, dict) and _s(value.get("body")):
            return _s(value.get("body"))
    return None


def media_summary(kind: str, message: dict[str, Any]) -> dict[str, Any] | None:
    if kind not in MEDIA_TYPES:
        return None
    content = _content(message, kind)
    summary: dict[str, Any] = {
        key: content[key]
        for key in ("id", "mime_type", "sha256", "filename", "caption", "voice", "animated")
        if key in content
    }
    summary["kind"] = kind
    summary["status"] = "pending" if content.get("id") else "failed"
    return summary


def message_context(message: dict[str, Any]) -> dict[str, Any] | None:
    context = message.get("context")
    referral = message.get("referral")
    merged: dict[str, Any] = dict(context) if isinstance(context, dict) else {}
    if isinstance(referral, dict):
        merged["referral"] = referral
    if message.get("type") == "reaction":
        target = _content(message, "reaction").get("message_id")
        if target:
            merged.setdefault("id", target)
    return merged or None


def preview(kind: str, text: str | None) -> str:
    shown = text if text else f"[{kind}]"
    if kind == "reaction":
        shown = f"reacted {text}" if text else "removed a reaction"
    return shown[:PREVIEW_CHARS]
