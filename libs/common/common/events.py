"""Versioned event models: one envelope, one pydantic model per event, a discriminated union.

The wire format is the JSON of these models. Adding an optional field keeps `.v1`; a change
old consumers cannot read is a new `.v2` event published beside the old one. Consumers read
with `extra="ignore"`. Golden files in libs/common/tests/golden pin the wire shape.
"""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from common.logging import get_correlation_id

# Namespace of the deterministic event ids derived from WhatsApp ids (STYLE.md §5).
WHATSAPP_EVENT_NAMESPACE = uuid.UUID("6f2b8c1e-4a57-4f4e-9d0a-7f5b0e2c9a11")


def whatsapp_message_event_id(wamid: str) -> uuid.UUID:
    """A redelivered webhook carries the same wamid, so it yields the same event id."""
    return uuid.uuid5(WHATSAPP_EVENT_NAMESPACE, wamid)


def whatsapp_status_event_id(wamid: str, status: str) -> uuid.UUID:
    return uuid.uuid5(WHATSAPP_EVENT_NAMESPACE, f"{wamid}:{status}")


def _now() -> datetime:
    return datetime.now(UTC)


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Envelope(BaseModel):
    """What every event carries around its payload."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    event_type: str
    occurred_at: AwareDatetime = Field(default_factory=_now)
    tenant_id: uuid.UUID | None = None
    correlation_id: str | None = Field(default_factory=get_correlation_id)
    payload: Payload


# --- gateway: whatsapp.* -------------------------------------------------------------------


class WhatsAppContact(Payload):
    wa_id: str | None = None
    user_id: str | None = None
    name: str | None = None
    username: str | None = None


class WhatsAppMessageReceivedPayload(Payload):
    """One inbound message of a webhook, with the contact it came from and the number it reached."""

    waba_id: str | None = None
    phone_number_id: str
    display_phone_number: str | None = None
    wamid: str
    type: str
    timestamp: AwareDatetime
    contact: WhatsAppContact | None = None
    # The message object exactly as Meta sent it: later consumers parse what they need.
    message: dict[str, Any]
    # Errors Meta attached to the change (`value.errors`), e.g. for `unsupported` messages.
    errors: list[dict[str, Any]] = []


class WhatsAppMessageReceivedV1(Envelope):
    event_type: Literal["whatsapp.message.received.v1"] = "whatsapp.message.received.v1"
    payload: WhatsAppMessageReceivedPayload


class WhatsAppStatusUpdatedPayload(Payload):
    waba_id: str | None = None
    phone_number_id: str
    wamid: str
    status: str
    timestamp: AwareDatetime
    recipient_id: str | None = None
    status_object: dict[str, Any]


class WhatsAppStatusUpdatedV1(Envelope):
    event_type: Literal["whatsapp.status.updated.v1"] = "whatsapp.status.updated.v1"
    payload: WhatsAppStatusUpdatedPayload


class WhatsAppWebhookUnhandledPayload(Payload):
    """A change we do not act on (template status, account updates, `value.errors`…)."""

    waba_id: str | None = None
    field: str
    reason: str
    value: dict[str, Any]


class WhatsAppWebhookUnhandledV1(Envelope):
    event_type: Literal["whatsapp.webhook.unhandled.v1"] = "whatsapp.webhook.unhandled.v1"
    payload: WhatsAppWebhookUnhandledPayload


# --- ingest: conversation.* ----------------------------------------------------------------


class ConversationMessageStoredPayload(Payload):
    message_id: uuid.UUID
    wamid: str | None
    phone_number_id: str
    direction: Literal["inbound", "outbound"]
    type: str
    text: str | None = None
    sent_at: AwareDatetime


class ConversationMessageStoredV1(Envelope):
    event_type: Literal["conversation.message.stored.v1"] = "conversation.message.stored.v1"
    payload: ConversationMessageStoredPayload


AnyEvent = Annotated[
    WhatsAppMessageReceivedV1
    | WhatsAppStatusUpdatedV1
    | WhatsAppWebhookUnhandledV1
    | ConversationMessageStoredV1,
    Field(discriminator="event_type"),
]
_any_event: TypeAdapter[Any] = TypeAdapter(AnyEvent)

EVENT_TYPES: frozenset[str] = frozenset(
    model.model_fields["event_type"].default
    for model in (
        WhatsAppMessageReceivedV1,
        WhatsAppStatusUpdatedV1,
        WhatsAppWebhookUnhandledV1,
        ConversationMessageStoredV1,
    )
)


def parse_event(body: bytes | str) -> Envelope:
    """Decode a wire message into its event model; raises `pydantic.ValidationError`."""
    event: Envelope = _any_event.validate_json(body)
    return event


def event_from_dict(data: object) -> Envelope:
    """Like `parse_event`, from already-decoded JSON (an outbox row, a golden file)."""
    event: Envelope = _any_event.validate_python(data)
    return event


def to_json(event: Envelope) -> bytes:
    return event.model_dump_json().encode()
