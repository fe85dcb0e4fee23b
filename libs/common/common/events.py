"""Versioned event models: one envelope, one pydantic model per event, a discriminated union.

The wire format is the JSON of these models. Adding an optional field keeps `.v1`; a change
old consumers cannot read is a new `.v2` event published beside the old one. Consumers read
with `extra="ignore"`. Golden files in libs/common/tests/golden pin the wire shape.
"""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from common.logging import get_correlation_id

# Namespace of the deterministic event ids derived from WhatsApp ids
# (docs/architecture.md, "Events").
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

    # The model's own event type (its `event_type` literal), read once when the class is made:
    # subscriptions bind and dispatch by it (`Subscription.of`) instead of repeating the string.
    EVENT_TYPE: ClassVar[str]

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    event_type: str
    occurred_at: AwareDatetime = Field(default_factory=_now)
    tenant_id: uuid.UUID | None = None
    correlation_id: str | None = Field(default_factory=get_correlation_id)
    payload: Payload

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        declared = cls.model_fields["event_type"].default
        if isinstance(declared, str):
            cls.EVENT_TYPE = declared


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


# --- ingest: conversation.*, message.* -------------------------------------------------------


class ContactSummary(Payload):
    id: uuid.UUID
    wa_id: str
    name: str | None = None


class MessageSummary(Payload):
    """A stored message as the dashboard and the responder see it."""

    id: uuid.UUID
    conversation_id: uuid.UUID
    wamid: str | None = None
    direction: Literal["inbound", "outbound"]
    author: Literal["customer", "ai", "agent"]
    type: str
    text: str | None = None
    media: dict[str, Any] | None = None
    # Reply-to / forwarded / referred product, as Meta sent it (`context` of the message).
    context: dict[str, Any] | None = None
    reaction: str | None = None
    # For AI replies: the knowledge passages the answer was grounded on.
    sources: list[dict[str, Any]] = []
    status: str
    error: str | None = None
    created_at: AwareDatetime


class HistoryItem(Payload):
    direction: Literal["inbound", "outbound"]
    author: Literal["customer", "ai", "agent"]
    type: str
    text: str | None = None
    created_at: AwareDatetime


class CSATRating(Payload):
    """A customer's answer to the satisfaction question: 3 Great, 2 OK, 1 Poor."""

    score: Literal[1, 2, 3]
    label: Literal["Great", "OK", "Poor"]
    responded_at: AwareDatetime


class ConversationSummary(Payload):
    """A conversation as `GET /api/conversations/{id}` answers it."""

    id: uuid.UUID
    channel_id: uuid.UUID
    contact: ContactSummary
    status: Literal["open", "handoff", "resolved"]
    ai_enabled: bool
    last_message_at: AwareDatetime | None = None
    last_message_preview: str | None = None
    unread_count: int = 0
    last_inbound_at: AwareDatetime | None = None
    handoff_reason: str | None = None
    # When the 24-hour customer-service window closes (null: closed, or never open).
    window_closes_at: AwareDatetime | None = None
    # The team member working on it (auth's user id); null: unassigned.
    assignee_id: uuid.UUID | None = None
    # The customer's rating after the last resolution; null: none asked or none given.
    csat: CSATRating | None = None
    # The conversation's version (one more with every change): consumers apply an update only
    # when it is newer than what they hold. Null: sent before the field existed.
    version: int | None = None


class ConversationMessageStoredPayload(Payload):
    """A message stored once (inbound from a customer, or outbound queued by an agent or the AI),
    with the conversation's state and recent history so the responder needs no call back."""

    conversation_id: uuid.UUID
    channel_id: uuid.UUID
    phone_number_id: str
    contact: ContactSummary
    message: MessageSummary
    conversation_status: Literal["open", "handoff", "resolved"]
    ai_enabled: bool
    # The last N messages before this one, oldest first.
    history: list[HistoryItem] = []
    # The customer tapped a rating button (CSAT): stored like any message, answered by no AI.
    csat_reply: bool = False


class ConversationMessageStoredV1(Envelope):
    event_type: Literal["conversation.message.stored.v1"] = "conversation.message.stored.v1"
    payload: ConversationMessageStoredPayload


class ConversationUpdatedV1(Envelope):
    event_type: Literal["conversation.updated.v1"] = "conversation.updated.v1"
    payload: ConversationSummary


class ConversationNoteCreatedPayload(Payload):
    """A team member's private note in a conversation's thread: for the team's screens only,
    never a message to or from the customer (no delivery, not in analytics, not AI history)."""

    id: uuid.UUID
    conversation_id: uuid.UUID
    author_id: uuid.UUID
    text: str
    created_at: AwareDatetime


class ConversationNoteCreatedV1(Envelope):
    event_type: Literal["conversation.note.created.v1"] = "conversation.note.created.v1"
    payload: ConversationNoteCreatedPayload


class ContactErasedPayload(Payload):
    """A contact's data was erased on request: other services drop their copies."""

    contact_id: uuid.UUID
    conversation_ids: list[uuid.UUID]
    message_ids: list[uuid.UUID]


class ContactErasedV1(Envelope):
    event_type: Literal["contact.erased.v1"] = "contact.erased.v1"
    payload: ContactErasedPayload


class MessageStatusUpdatedPayload(Payload):
    """An outbound message moved forward (sent, delivered, read, played) or failed."""

    message_id: uuid.UUID
    conversation_id: uuid.UUID
    wamid: str | None = None
    status: str
    error: str | None = None
    error_code: int | None = None


class MessageStatusUpdatedV1(Envelope):
    event_type: Literal["message.status.updated.v1"] = "message.status.updated.v1"
    payload: MessageStatusUpdatedPayload


class MessageOutboundQueuedPayload(Payload):
    """ingest-internal: an outbound message waits for delivery through the Graph API."""

    message_id: uuid.UUID


class MessageOutboundQueuedV1(Envelope):
    event_type: Literal["message.outbound.queued.v1"] = "message.outbound.queued.v1"
    payload: MessageOutboundQueuedPayload


class MessageMediaPendingPayload(Payload):
    """ingest-internal: an inbound message's media waits to be fetched from the Graph API."""

    message_id: uuid.UUID


class MessageMediaPendingV1(Envelope):
    event_type: Literal["message.media.pending.v1"] = "message.media.pending.v1"
    payload: MessageMediaPendingPayload


# --- responder: reply.*, conversation.handoff.* -----------------------------------------------


class ReplySource(Payload):
    """A knowledge passage an answer was grounded on: "returns-policy.pdf, page 3"."""

    document_id: uuid.UUID | None = None
    chunk_id: uuid.UUID | None = None
    filename: str
    page: int | None = None
    section: str | None = None
    score: float


class ReplyGeneratedPayload(Payload):
    """The AI's answer to a customer turn, for ingest to store and deliver."""

    reply_id: uuid.UUID
    conversation_id: uuid.UUID
    # The latest customer message of the turn (the reply quotes it on WhatsApp).
    in_reply_to_message_id: uuid.UUID
    in_reply_to_wamid: str | None = None
    # One WhatsApp message per part (each within WhatsApp's 4,096 characters).
    parts: list[str]
    kind: Literal["answer", "fallback"]
    sources: list[ReplySource] = []
    model: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: int = 0
    # None: the model's price is unknown (not a made-up 0). The responder only calls priced
    # models, so in practice this is a number.
    cost_usd: float | None = 0.0


class ReplyGeneratedV1(Envelope):
    event_type: Literal["reply.generated.v1"] = "reply.generated.v1"
    payload: ReplyGeneratedPayload


class ReplyPreparingPayload(Payload):
    """The responder decided to answer this customer message and is preparing the answer:
    ingest marks it read with the typing indicator (docs/whatsapp.md, "Sending"). A hint, published
    directly (no outbox): it is true when sent, whatever happens to the answer later."""

    conversation_id: uuid.UUID
    message_id: uuid.UUID
    wamid: str | None = None


class ReplyPreparingV1(Envelope):
    event_type: Literal["reply.preparing.v1"] = "reply.preparing.v1"
    payload: ReplyPreparingPayload


class HandoffRequestedPayload(Payload):
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    reason: str


class HandoffRequestedV1(Envelope):
    event_type: Literal["conversation.handoff.requested.v1"] = "conversation.handoff.requested.v1"
    payload: HandoffRequestedPayload


class ConversationCSATReceivedPayload(Payload):
    """A customer rated the support after a resolution (the first answer per request), with
    who had the conversation then, for analytics by agent and AI versus people."""

    request_id: uuid.UUID
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    score: Literal[1, 2, 3]
    assignee_id: uuid.UUID | None = None
    # No agent message and no handoff in the conversation: the AI resolved it alone.
    ai_resolved: bool
    responded_at: AwareDatetime


class ConversationCSATReceivedV1(Envelope):
    event_type: Literal["conversation.csat.received.v1"] = "conversation.csat.received.v1"
    payload: ConversationCSATReceivedPayload


class AutoReplyPayload(Payload):
    """The business's outside-hours auto-reply, for ingest to send (once per conversation per
    closed period: the responder's key, and `reply_id` derives from it). Unlike an AI answer
    it goes out whoever is in charge of the conversation."""

    reply_id: uuid.UUID
    conversation_id: uuid.UUID
    in_reply_to_message_id: uuid.UUID
    in_reply_to_wamid: str | None = None
    text: str
    # When the closed period began (the business closed), in UTC.
    period_start: AwareDatetime


class AutoReplyV1(Envelope):
    event_type: Literal["reply.auto.v1"] = "reply.auto.v1"
    payload: AutoReplyPayload


class CSATRequestedPayload(Payload):
    """Ask the customer to rate the support of a resolved conversation. Ingest decides how
    (interactive buttons inside the 24-hour window, the template outside it, or not at all)."""

    request_id: uuid.UUID
    conversation_id: uuid.UUID
    question: str
    template_name: str | None = None


class CSATRequestedV1(Envelope):
    event_type: Literal["csat.requested.v1"] = "csat.requested.v1"
    payload: CSATRequestedPayload


# --- auth: tenant.*, user.* -----------------------------------------------------------------


class TenantCreatedPayload(Payload):
    tenant_id: uuid.UUID
    name: str


class TenantCreatedV1(Envelope):
    event_type: Literal["tenant.created.v1"] = "tenant.created.v1"
    payload: TenantCreatedPayload


class UserPayload(Payload):
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    name: str
    role: Literal["owner", "admin", "agent"]


class UserCreatedV1(Envelope):
    event_type: Literal["user.created.v1"] = "user.created.v1"
    payload: UserPayload


class UserRemovedPayload(Payload):
    user_id: uuid.UUID
    tenant_id: uuid.UUID


class UserRemovedV1(Envelope):
    event_type: Literal["user.removed.v1"] = "user.removed.v1"
    payload: UserRemovedPayload


# --- knowledge: document.* ------------------------------------------------------------------


class DocumentUploadedPayload(Payload):
    """A document was stored (or re-indexing was asked for): index it. Consumed by knowledge."""

    document_id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    sha256: str


class DocumentUploadedV1(Envelope):
    event_type: Literal["document.uploaded.v1"] = "document.uploaded.v1"
    payload: DocumentUploadedPayload


class DocumentIndexedPayload(Payload):
    document_id: uuid.UUID
    filename: str
    chunk_count: int
    language: str | None = None


class DocumentIndexedV1(Envelope):
    event_type: Literal["document.indexed.v1"] = "document.indexed.v1"
    payload: DocumentIndexedPayload


class DocumentFailedPayload(Payload):
    document_id: uuid.UUID
    filename: str
    # Human-readable: shown to the business as the reason the document is not searchable.
    error: str


class DocumentFailedV1(Envelope):
    event_type: Literal["document.failed.v1"] = "document.failed.v1"
    payload: DocumentFailedPayload


# --- the registry: every event model, once (parse_event and EVENT_TYPES derive from it) -------

EVENT_MODELS: tuple[type[Envelope], ...] = (
    WhatsAppMessageReceivedV1,
    WhatsAppStatusUpdatedV1,
    WhatsAppWebhookUnhandledV1,
    ConversationMessageStoredV1,
    ConversationUpdatedV1,
    ConversationNoteCreatedV1,
    ContactErasedV1,
    MessageStatusUpdatedV1,
    MessageOutboundQueuedV1,
    MessageMediaPendingV1,
    ReplyPreparingV1,
    ReplyGeneratedV1,
    HandoffRequestedV1,
    AutoReplyV1,
    CSATRequestedV1,
    ConversationCSATReceivedV1,
    TenantCreatedV1,
    UserCreatedV1,
    UserRemovedV1,
    DocumentUploadedV1,
    DocumentIndexedV1,
    DocumentFailedV1,
)

AnyEvent = Annotated[Union[EVENT_MODELS], Field(discriminator="event_type")]  # type: ignore[valid-type]  # noqa: UP007
_any_event: TypeAdapter[Any] = TypeAdapter(AnyEvent)

EVENT_TYPES: frozenset[str] = frozenset(model.EVENT_TYPE for model in EVENT_MODELS)


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
