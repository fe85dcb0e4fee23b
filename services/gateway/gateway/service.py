"""Meta's webhook: signature check and the split of a notification into events."""

import hashlib
import hmac
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import structlog

from common.events import (
    WHATSAPP_EVENT_NAMESPACE,
    Envelope,
    WhatsAppContact,
    WhatsAppMessageReceivedPayload,
    WhatsAppMessageReceivedV1,
    WhatsAppStatusUpdatedPayload,
    WhatsAppStatusUpdatedV1,
    WhatsAppWebhookUnhandledPayload,
    WhatsAppWebhookUnhandledV1,
    whatsapp_message_event_id,
    whatsapp_status_event_id,
)

log = structlog.get_logger(__name__)


class NotANotification(ValueError):
    """The body parsed, but is not a WhatsApp Business Account notification."""


def signature_valid(raw_body: bytes, header: str | None, secrets: list[str]) -> bool:
    """HMAC-SHA256 of the raw bytes as received, compared in constant time, any secret."""
    if not header or not header.startswith("sha256="):
        return False
    given = header.removeprefix("sha256=").strip().lower().encode()
    for secret in secrets:
        # hmac.digest: one call into OpenSSL, not an HMAC object per request.
        expected = hmac.digest(secret.encode(), raw_body, "sha256").hex().encode()
        if hmac.compare_digest(given, expected):
            return True
    return False


# Inbound message types of docs/whatsapp.md; anything else is published as `unknown`, raw kept.
KNOWN_MESSAGE_TYPES = frozenset(
    {
        "text",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "contacts",
        "interactive",
        "button",
        "reaction",
        "order",
        "system",
        "unsupported",
        "edit",
        "revoke",
        "request_welcome",
    }
)


class TooDeep(ValueError):
    """The JSON nests deeper than any notification Meta sends."""


def check_depth(value: Any, limit: int) -> None:
    """Iterative walk (no recursion): refuse documents nested deeper than `limit`."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise TooDeep(f"JSON nested deeper than {limit} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, dict | list))


# What JSON can escape but nothing downstream can hold: a lone surrogate (no UTF-8 encoder
# takes it) and NUL (Postgres text and JSONB refuse it).
_UNSTORABLE = re.compile("[\ud800-\udfff\x00]")


def parse_notification(raw: bytes, max_depth: int) -> tuple[list[Envelope], list[Envelope]]:
    """The signed body's events; ValueError (NotANotification, TooDeep, bad JSON) for a body
    that is not a notification at all. Whatever the JSON holds inside, never anything else."""
    body = json.loads(raw)
    # Nesting needs an opening bracket per level: a body with few cannot be too deep.
    if raw.count(b"[") + raw.count(b"{") > max_depth:
        check_depth(body, max_depth)
    # JSON may escape a lone surrogate (`"\\ud800"`), which no UTF-8 encoder (event ids,
    # the broker's JSON) accepts, or a NUL (`"\\u0000"`), which Postgres cannot store (the
    # customer's message would fail at ingest, again at each retry): both become U+FFFD, like
    # any undecodable character.
    if b"\\u0000" in raw or _lone_surrogate_escaped(raw):
        body = _storable(body)
    return split_notification(body)


# What an escaped lone surrogate cannot be: an escaped backslash (`\\ud800` is text) or a
# well-formed pair (an emoji, escaped as Meta escapes every non-ASCII character).
_NOT_LONE = re.compile(rb"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}")


def _lone_surrogate_escaped(raw: bytes) -> bool:
    """Whether the JSON may escape a lone surrogate: what is left of `\\ud...` once the pairs
    and escaped backslashes are cut out (in C; a walk of the parsed body cost 5% of a
    webhook). Scanned left to right, an escaped backslash is consumed before what follows."""
    if b"\\ud" not in raw and b"\\uD" not in raw:
        return False
    rest = _NOT_LONE.sub(b"", raw)
    return b"\\ud" in rest or b"\\uD" in rest


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_storable(v) for v in value]
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    return value


def split_notification(body: Any) -> tuple[list[Envelope], list[Envelope]]:
    """Every entry, change, message and status: (events that must reach ingest, the rest)."""
    if not isinstance(body, dict) or body.get("object") != "whatsapp_business_account":
        raise NotANotification("not a whatsapp_business_account notification")
    entries = body.get("entry")
    if not isinstance(entries, list):
        raise NotANotification("'entry' must be a list")
    required: list[Envelope] = []
    other: list[Envelope] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("changes", []), list):
            raise NotANotification("each entry must be an object with a 'changes' list")
        waba_id = _str(entry.get("id"))
        for change in entry.get("changes", []):
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                raise NotANotification("each change must be an object with a 'value' object")
            field = str(change.get("field", ""))
            value: dict[str, Any] = change["value"]
            if field != "messages":
                other.append(_unhandled(waba_id, field, "field not handled", value))
                continue
            if value.get("errors"):
                other.append(_unhandled(waba_id, field, "value.errors", value))
            metadata = value.get("metadata")
            if not isinstance(metadata, dict) or not metadata.get("phone_number_id"):
                other.append(_unhandled(waba_id, field, "no metadata.phone_number_id", value))
                continue
            # One bad item never fails the batch: it goes out as unhandled, the rest as usual.
            good, bad = _messages_and_statuses(waba_id, value, metadata)
            required.extend(good)
            other.extend(_unhandled(waba_id, field, reason, item) for reason, item in bad)
    return required, other


class BadItem(ValueError):
    """One message or status that cannot become an event (it goes out as unhandled)."""


def _messages_and_statuses(
    waba_id: str | None, value: dict[str, Any], metadata: dict[str, Any]
) -> tuple[list[Envelope], list[tuple[str, dict[str, Any]]]]:
    phone_number_id = str(metadata["phone_number_id"])
    display = _str(metadata.get("display_phone_number"))
    contacts = [c for c in _list(value.get("contacts")) if isinstance(c, dict)]
    errors = [e for e in _list(value.get("errors")) if isinstance(e, dict)]
    events: list[Envelope] = []
    bad: list[tuple[str, dict[str, Any]]] = []
    # Whatever is wrong with one item (Meta's or a forger's with the secret), it alone goes
    # out as unhandled: a 500 for the batch would have Meta redeliver it forever.
    for message in _list(value.get("messages")):
        try:
            events.append(
                _message_event(waba_id, phone_number_id, display, message, contacts, errors)
            )
        except Exception as exc:
            bad.append((_reason(exc, "message"), {"message": message}))
    for status in _list(value.get("statuses")):
        try:
            events.append(_status_event(waba_id, phone_number_id, status))
        except Exception as exc:
            bad.append((_reason(exc, "status"), {"status": status}))
    return events, bad


def _reason(exc: Exception, kind: str) -> str:
    if isinstance(exc, BadItem):
        return str(exc)
    log.warning("webhook.bad_item", kind=kind, error=type(exc).__name__)
    return f"a {kind} that could not be read ({type(exc).__name__})"


def _message_event(
    waba_id: str | None,
    phone_number_id: str,
    display: str | None,
    message: Any,
    contacts: list[dict[str, Any]],
    errors: list[dict[str, Any]],
) -> WhatsAppMessageReceivedV1:
    if not isinstance(message, dict) or not message.get("id"):
        raise BadItem("a message without an id")
    wamid = str(message["id"])
    kind = message.get("type")
    return WhatsAppMessageReceivedV1(
        event_id=whatsapp_message_event_id(wamid),
        payload=WhatsAppMessageReceivedPayload(
            waba_id=waba_id,
            phone_number_id=phone_number_id,
            display_phone_number=display,
            wamid=wamid,
            type=kind if kind in KNOWN_MESSAGE_TYPES else "unknown",
            timestamp=_timestamp(message.get("timestamp")),
            contact=_contact_for(message, contacts),
            message=message,
            errors=errors,
        ),
    )


def _status_event(
    waba_id: str | None, phone_number_id: str, status: Any
) -> WhatsAppStatusUpdatedV1:
    if not isinstance(status, dict) or not status.get("id") or not status.get("status"):
        raise BadItem("a status without an id or status")
    wamid, state = str(status["id"]), str(status["status"])
    return WhatsAppStatusUpdatedV1(
        event_id=whatsapp_status_event_id(wamid, state),
        payload=WhatsAppStatusUpdatedPayload(
            waba_id=waba_id,
            phone_number_id=phone_number_id,
            wamid=wamid,
            status=state,
            timestamp=_timestamp(status.get("timestamp")),
            recipient_id=_str(status.get("recipient_id")),
            status_object=status,
        ),
    )


def _contact_for(message: dict[str, Any], contacts: list[dict[str, Any]]) -> WhatsAppContact | None:
    """The sender's contact, matched by id (never by position in the list)."""
    sender = _str(message.get("from"))
    sender_user_id = _str(message.get("from_user_id"))
    for contact in contacts:
        if (sender and contact.get("wa_id") == sender) or (
            sender_user_id and contact.get("user_id") == sender_user_id
        ):
            profile = contact.get("profile")
            profile = profile if isinstance(profile, dict) else {}  # odd, not fatal
            return WhatsAppContact(
                wa_id=_str(contact.get("wa_id")),
                user_id=_str(contact.get("user_id")),
                name=_str(profile.get("name")),
                username=_str(profile.get("username")),
            )
    if sender or sender_user_id:
        return WhatsAppContact(wa_id=sender, user_id=sender_user_id)
    return None


def _unhandled(
    waba_id: str | None, field: str, reason: str, value: dict[str, Any]
) -> WhatsAppWebhookUnhandledV1:
    log.info("webhook.unhandled", field=field, reason=reason, waba_id=waba_id)
    # Deterministic, like every gateway event: a redelivered change is the same event.
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
    return WhatsAppWebhookUnhandledV1(
        event_id=uuid.uuid5(WHATSAPP_EVENT_NAMESPACE, f"unhandled:{waba_id}:{field}:{digest}"),
        payload=WhatsAppWebhookUnhandledPayload(
            waba_id=waba_id, field=field, reason=reason, value=value
        ),
    )


def _timestamp(value: Any) -> datetime:
    try:
        seconds = int(str(value))
    except (TypeError, ValueError):  # absent or not a number: when it reached us
        return datetime.now(UTC)
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise BadItem("a timestamp out of range") from exc


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
