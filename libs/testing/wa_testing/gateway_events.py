"""The gateway's side of its contract with ingest, for suites that stand in for the gateway: the
events it publishes for a well-formed Meta notification (docs/architecture.md, "Events").

ingest's own suite publishes these on the bus instead of running the gateway, so it depends on
ingest alone; the gateway's suite checks that the gateway publishes exactly these
(services/gateway/tests/test_parsing.py), and tests/e2e runs the two together. Malformed
input (missing ids, bad timestamps, odd JSON) is the gateway's business and is not handled
here.
"""

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

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

# The inbound types of docs/whatsapp.md; the gateway publishes any other as `unknown`.
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


def gateway_events(body: dict[str, Any]) -> tuple[list[Envelope], list[Envelope]]:
    """(events that must reach ingest: messages and statuses, the rest: unhandled changes)."""
    required: list[Envelope] = []
    other: list[Envelope] = []
    for entry in body["entry"]:
        waba_id = None if entry.get("id") is None else str(entry["id"])
        for change in entry.get("changes", []):
            field, value = str(change.get("field", "")), change["value"]
            if field != "messages":
                other.append(_unhandled(waba_id, field, "field not handled", value))
                continue
            if value.get("errors"):
                other.append(_unhandled(waba_id, field, "value.errors", value))
            metadata = value.get("metadata") or {}
            if not metadata.get("phone_number_id"):
                other.append(_unhandled(waba_id, field, "no metadata.phone_number_id", value))
                continue
            pnid = str(metadata["phone_number_id"])
            display = metadata.get("display_phone_number")
            contacts = value.get("contacts") or []
            for message in value.get("messages") or []:
                required.append(
                    _message(waba_id, pnid, display, message, contacts, value.get("errors") or [])
                )
            for status in value.get("statuses") or []:
                required.append(_status(waba_id, pnid, status))
    return required, other


def _timestamp(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(str(value)), tz=UTC)
    except (TypeError, ValueError):  # absent: when it reached the gateway
        return datetime.now(UTC)


def _message(
    waba_id: str | None,
    pnid: str,
    display: str | None,
    message: dict[str, Any],
    contacts: list[dict[str, Any]],
    errors: list[dict[str, Any]],
) -> WhatsAppMessageReceivedV1:
    wamid, kind = str(message["id"]), message.get("type")
    return WhatsAppMessageReceivedV1(
        event_id=whatsapp_message_event_id(wamid),
        payload=WhatsAppMessageReceivedPayload(
            waba_id=waba_id,
            phone_number_id=pnid,
            display_phone_number=display,
            wamid=wamid,
            type=kind if kind in KNOWN_MESSAGE_TYPES else "unknown",
            timestamp=_timestamp(message.get("timestamp")),
            contact=_contact(message, contacts),
            message=message,
            errors=errors,
        ),
    )


def _status(waba_id: str | None, pnid: str, status: dict[str, Any]) -> WhatsAppStatusUpdatedV1:
    wamid, state = str(status["id"]), str(status["status"])
    recipient = status.get("recipient_id")
    return WhatsAppStatusUpdatedV1(
        event_id=whatsapp_status_event_id(wamid, state),
        payload=WhatsAppStatusUpdatedPayload(
            waba_id=waba_id,
            phone_number_id=pnid,
            wamid=wamid,
            status=state,
            timestamp=_timestamp(status.get("timestamp")),
            recipient_id=None if recipient is None else str(recipient),
            status_object=status,
        ),
    )


def _contact(message: dict[str, Any], contacts: list[dict[str, Any]]) -> WhatsAppContact | None:
    """The sender's contact, matched by id (never by position), as the gateway does."""
    sender, user_id = message.get("from"), message.get("from_user_id")
    for contact in contacts:
        if (sender and contact.get("wa_id") == sender) or (
            user_id and contact.get("user_id") == user_id
        ):
            profile = contact.get("profile") or {}
            return WhatsAppContact(
                wa_id=contact.get("wa_id"),
                user_id=contact.get("user_id"),
                name=profile.get("name"),
                username=profile.get("username"),
            )
    if sender or user_id:
        return WhatsAppContact(wa_id=sender, user_id=user_id)
    return None


def _unhandled(
    waba_id: str | None, field: str, reason: str, value: dict[str, Any]
) -> WhatsAppWebhookUnhandledV1:
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
    return WhatsAppWebhookUnhandledV1(
        event_id=uuid.uuid5(WHATSAPP_EVENT_NAMESPACE, f"unhandled:{waba_id}:{field}:{digest}"),
        payload=WhatsAppWebhookUnhandledPayload(
            waba_id=waba_id, field=field, reason=reason, value=value
        ),
    )
