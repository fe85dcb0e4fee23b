import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    Boolean,
    DateTime,
    FetchedValue,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy import (
    text as sql,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.db import make_metadata
from common.idempotency import processed_events_table
from common.outbox import outbox_table
from common.ratelimit import rate_limit_buckets_table

SCHEMA = "ingest"
metadata = make_metadata(SCHEMA)
outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
# Fixed-window counters: simulated customer messages per business per minute.
rate_limit_buckets = rate_limit_buckets_table(metadata)


def _id() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)


def _now_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


class Base(DeclarativeBase):
    metadata = metadata
    if TYPE_CHECKING:
        # Every model here maps a Table (SQLAlchemy types `__table__` as any FromClause):
        # lets `insert(Model.__table__)` and `Retention(Model.__table__, …)` type-check.
        __table__: ClassVar[Table]


class Channel(Base):
    """A business's WhatsApp number. No access token = a sandbox (delivery recorded, not sent)."""

    __tablename__ = "channels"
    __table_args__ = (
        # A number belongs to one tenant while connected; a deleted channel frees it.
        Index(
            "uq_channels_phone_number_id_connected",
            "phone_number_id",
            unique=True,
            postgresql_where=sql("deleted_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    phone_number_id: Mapped[str] = mapped_column(String(64))
    display_phone_number: Mapped[str | None] = mapped_column(String(32))
    waba_id: Mapped[str | None] = mapped_column(String(64))
    # Fernet token of the Graph API access token; never returned, never logged.
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    needs_reauth: Mapped[bool] = mapped_column(Boolean, server_default=sql("false"))
    # When Meta confirmed the token reads this number of this WABA (null: a sandbox, or a
    # live channel connected before that check existed).
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # `{name, language}` of the approved template that reopens a closed 24-hour window.
    reengagement_template: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Send it by itself when the AI's answer comes too late (else the conversation is handed off).
    auto_reengage: Mapped[bool] = mapped_column(Boolean, server_default=sql("false"))
    created_at: Mapped[datetime] = _now_column()
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def mode(self) -> str:
        return "live" if self.access_token_encrypted else "sandbox"


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("tenant_id", "wa_id"),)

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    wa_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(128))
    username: Mapped[str | None] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(256))
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The team's own: free notes and custom attributes (PATCH /api/contacts/{id}); WhatsApp
    # never writes them, unlike `name` (the profile name each inbound message refreshes).
    notes: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, str]] = mapped_column(
        JSONB, default=dict, server_default=sql("'{}'::jsonb")
    )


class Conversation(Base):
    __tablename__ = "conversations"
    # An UPDATE reads `version` back by RETURNING (else it is expired after the flush, and an
    # async session cannot load it lazily).
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        # One open (or handed-off) conversation per contact and channel.
        Index(
            "uq_conversations_active",
            "channel_id",
            "contact_id",
            unique=True,
            postgresql_where=sql("status <> 'resolved'"),
        ),
        Index("ix_conversations_tenant_activity", "tenant_id", "last_message_at", "id"),
        # The inbox's "mine" / "unassigned" filters.
        Index("ix_conversations_tenant_assignee", "tenant_id", "assignee_id"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channels.id"))
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), server_default="open")
    ai_enabled: Mapped[bool] = mapped_column(Boolean)
    last_message_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_message_preview: Mapped[str | None] = mapped_column(String(200))
    unread_count: Mapped[int] = mapped_column(Integer, server_default=sql("0"))
    # The customer-service window (24 h) runs from the customer's last message.
    last_inbound_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Why the conversation waits for a person (set with status `handoff`, cleared after).
    handoff_reason: Mapped[str | None] = mapped_column(Text)
    # Set when the AI (still in charge) handed the conversation off: the customer message of
    # that turn. Its fallback reply may arrive after the handoff and must still go out.
    ai_handoff_message_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # The team member (auth's user id) working on it; null: unassigned.
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # The customer's rating after the last resolution (1 Poor, 2 OK, 3 Great); null: none.
    csat_score: Mapped[int | None] = mapped_column(SmallInteger)
    csat_responded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Goes up by one with every change to the row (repository.touch: `version + 1` in the
    # UPDATE, read back by RETURNING), so a screen applies live updates in order: it drops one
    # not newer than what it shows.
    version: Mapped[int] = mapped_column(
        Integer, server_default=sql("1"), server_onupdate=FetchedValue()
    )
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = _now_column()


class Message(Base):
    """One WhatsApp message, stored once per tenant and wamid (Meta redelivers)."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("tenant_id", "wamid"),
        Index("ix_messages_conversation_created", "conversation_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id"))
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channels.id"))
    # Null for an outbound message until the Graph API accepted it.
    wamid: Mapped[str | None] = mapped_column(String(255))
    # inbound | outbound | internal (a private note of the team, never sent)
    direction: Mapped[str] = mapped_column(String(16))
    author: Mapped[str] = mapped_column(String(16))
    # The team member who wrote a note (auth's user id).
    author_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    type: Mapped[str] = mapped_column(String(32))
    text: Mapped[str | None] = mapped_column(Text)
    media: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    context: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The customer's current reaction to this message (None when removed).
    reaction: Mapped[str | None] = mapped_column(String(32))
    # An AI reply's grounding: the knowledge passages it was answered from.
    sources: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    # A template message: `{name, language, parameters, components}` (Meta's send components).
    template: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # An interactive message (CSAT's reply buttons): Meta's `interactive` object as sent.
    interactive: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16))
    # Statuses only move forward: an update applies when its rank is higher.
    status_rank: Mapped[int] = mapped_column(SmallInteger, server_default=sql("0"))
    error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[int | None] = mapped_column(Integer)
    # A delivery in flight holds this lease; a redelivered job waits for it to expire.
    sending_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # After a retryable failure: no new attempt before this (backoff, Meta's Retry-After).
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Meta's timestamp for inbound messages; the time it was queued for outbound.
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stored_at: Mapped[datetime] = _now_column()


class Template(Base):
    """A message template of the channel's WhatsApp Business Account, as Meta last listed it.
    Each language is its own approved template."""

    __tablename__ = "templates"
    __table_args__ = (
        UniqueConstraint("channel_id", "name", "language"),
        Index("ix_templates_meta_template_id", "meta_template_id"),
    )

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channels.id"))
    name: Mapped[str] = mapped_column(String(512))
    language: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(32))
    components: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    meta_template_id: Mapped[str | None] = mapped_column(String(64))
    synced_at: Mapped[datetime] = _now_column()


class DeliveryAttempt(Base):
    """One call (or sandbox recording) of an outbound message. A call is committed as
    `sending` before it starts, then given its outcome: a `sending` row whose lease ran out
    is a call whose outcome nobody recorded (a crash), resolved as `unknown`, never resent."""

    __tablename__ = "delivery_attempts"

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    # sending | sent | sandbox | retry | failed | unknown
    outcome: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now_column()


class PendingStatus(Base):
    """A status for a wamid not stored yet (ordering is not guaranteed): applied when it is."""

    __tablename__ = "pending_statuses"
    __table_args__ = (UniqueConstraint("tenant_id", "wamid", "status"),)

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    wamid: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    status_rank: Mapped[int] = mapped_column(SmallInteger)
    error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now_column()


class MediaFile(Base):
    """An inbound message's media, fetched from the Graph API; its bytes are `MediaChunk`s."""

    __tablename__ = "media_files"

    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    mime_type: Mapped[str | None] = mapped_column(String(128))
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now_column()


class MediaChunk(Base):
    """One piece of a media file, in order of `seq`: a download is written and a serve read
    piece by piece, so no whole file (up to MEDIA_MAX_BYTES) sits in memory."""

    __tablename__ = "media_chunks"

    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("media_files.message_id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class MediaFetchAttempt(Base):
    __tablename__ = "media_fetch_attempts"

    id: Mapped[uuid.UUID] = _id()
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id"), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now_column()


# --- team inbox (ingest/inbox.py) -------------------------------------------------------------


class TeamMember(Base):
    """A member of a business, learned from auth's `user.created.v1` / `user.removed.v1`."""

    __tablename__ = "team_members"

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(256))
    email: Mapped[str | None] = mapped_column(String(320))
    # Round-robin breaks ties between equally busy members by who waited longest.
    last_assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now_column()


class TeamPresence(Base):
    """When a member last used the inbox (an API call or an open live stream)."""

    __tablename__ = "team_presence"

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class InboxSettings(Base):
    __tablename__ = "inbox_settings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    round_robin: Mapped[bool] = mapped_column(Boolean, server_default=sql("false"))


class Label(Base):
    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    name: Mapped[str] = mapped_column(String(64))
    color: Mapped[str] = mapped_column(String(7))
    created_at: Mapped[datetime] = _now_column()


class ConversationLabel(Base):
    __tablename__ = "conversation_labels"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    label_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class CannedReply(Base):
    __tablename__ = "canned_replies"
    __table_args__ = (UniqueConstraint("tenant_id", "shortcut"),)

    id: Mapped[uuid.UUID] = _id()
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    shortcut: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = _now_column()


class ConversationRead(Base):
    """Up to when a member has read a conversation: their unread count is the customer's
    messages stored after it."""

    __tablename__ = "conversation_reads"

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    last_read_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CSATRequest(Base):
    """A rating request sent after a resolution (id: the responder's request id), with who
    had the conversation then; the first answer fills `score`, later taps change nothing."""

    __tablename__ = "csat_requests"
    __table_args__ = (Index("ix_csat_requests_contact", "channel_id", "contact_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    channel_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    contact_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    # The outbound message that asked (null: nothing could be sent).
    message_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    ai_resolved: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[int | None] = mapped_column(SmallInteger)
    answer_message_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    responded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now_column()
