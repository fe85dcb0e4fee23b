"""responder's tables: AI settings and prompt templates per tenant, conversation turn state,
and the reply log analytics are built from."""

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.db import make_metadata
from common.idempotency import processed_events_table
from common.outbox import outbox_table
from common.ratelimit import rate_limit_buckets_table

SCHEMA = "responder"
metadata = make_metadata(SCHEMA)
outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
# Fixed-window counters: previews and AI turns per business per minute.
rate_limit_buckets = rate_limit_buckets_table(metadata)


class Base(DeclarativeBase):
    metadata = metadata


class PromptTemplate(Base):
    __tablename__ = "prompt_templates"
    # Names as the migration gave them (the naming convention would add the schema).
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_prompt_templates_tenant_id"),
        Index("ix_prompt_templates_tenant_id", "tenant_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    name: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class AISettings(Base):
    """One row per tenant, created with the defaults the first time it is read."""

    __tablename__ = "ai_settings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    model: Mapped[str | None] = mapped_column(String(200))
    persona: Mapped[str] = mapped_column(Text, default="")
    instructions: Mapped[str] = mapped_column(Text, default="")
    temperature: Mapped[float] = mapped_column(Float, default=0.3)
    max_output_tokens: Mapped[int] = mapped_column(Integer, default=500)
    history_messages: Mapped[int] = mapped_column(Integer, default=10)
    handoff_keywords: Mapped[list[str]] = mapped_column(JSONB, default=list)
    fallback_message: Mapped[str] = mapped_column(Text)
    media_without_text: Mapped[str] = mapped_column(String(16), default="reply")
    prompt_template_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("responder.prompt_templates.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Reply(Base):
    """What the responder did for one customer turn: replied, handed off, or fell back."""

    __tablename__ = "replies"
    __table_args__ = (Index("ix_replies_tenant_id", "tenant_id"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    conversation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    # The latest customer message this turn answers (unique: one answer per message).
    message_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)
    customer_message_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    handoff_reason: Mapped[str | None] = mapped_column(Text)
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    model: Mapped[str | None] = mapped_column(String(200))
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    # Null: the model's price was unknown (replies from before the priced allow-list that
    # were costed at 0); never a made-up 0.
    cost_usd: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LLMSpend(Base):
    """What a business spent on the LLM in one UTC calendar month: answers and previews (the
    preview logs no reply). Added to in the transaction that records the call's outcome."""

    __tablename__ = "llm_spend"

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)  # its first day
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)


class ConversationTurn(Base):
    """Per conversation: the customer's latest message (the one a reply must answer, so a
    burst gets one answer), the lease of the answer in progress, and when the AI's memory of
    it was last reset."""

    __tablename__ = "conversation_turns"

    conversation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    latest_message_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    latest_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    answered_message_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # The answer in progress: who holds the turn, for which message, until when. Set and
    # cleared in short transactions; nothing is held while the knowledge and the LLM think.
    lease_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    leased_message_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    leased_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when the conversation is resolved: history before it is forgotten on reopening.
    memory_reset_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TrackedMessage(Base):
    """Every message the responder heard of, for analytics (no reads of ingest's tables)."""

    __tablename__ = "tracked_messages"
    __table_args__ = (Index("ix_tracked_messages_tenant_id", "tenant_id", "created_at"),)

    message_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    conversation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    direction: Mapped[str] = mapped_column(String(16))
    author: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TenantName(Base):
    """Business names, learned from auth's `tenant.created.v1` (the prompts greet with them)."""

    __tablename__ = "tenant_names"

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))


class SentMark(Base):
    """When WhatsApp first accepted an outbound message (its first sent/delivered/read
    status). Kept apart from `tracked_messages`: the status may arrive before the message."""

    __tablename__ = "sent_marks"

    message_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BusinessHours(Base):
    """A business's opening hours (no row: open all day every day, the AI answers as ever)."""

    __tablename__ = "business_hours"

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # {"mon": [["09:00", "17:30"]], …}: wall-clock times in `timezone`; a day left out is closed.
    weekly: Mapped[dict[str, list[list[str]]]] = mapped_column(JSONB)
    holidays: Mapped[list[str]] = mapped_column(JSONB, default=list)
    auto_reply: Mapped[str | None] = mapped_column(Text)
    outside_hours: Mapped[str] = mapped_column(String(16), default="answer")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class AutoReplySent(Base):
    """The outside-hours auto-reply of one conversation in one closed period: the primary key
    makes it once, whatever the redeliveries or concurrent turns."""

    __tablename__ = "auto_replies_sent"
    __table_args__ = (Index("ix_auto_replies_sent_tenant_id", "tenant_id"),)

    conversation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    # The customer message that found the business closed.
    message_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CSATSettings(Base):
    """Whether a resolved conversation asks the customer for a rating (no row: it does not)."""

    __tablename__ = "csat_settings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=False)
    question: Mapped[str] = mapped_column(Text)
    template_name: Mapped[str | None] = mapped_column(String(512))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class ConversationState(Base):
    """The last status heard of each conversation: a resolution is a change *to* resolved,
    so later updates of a resolved conversation (a label, its rating) ask nothing again."""

    __tablename__ = "conversation_states"

    conversation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CSATResponse(Base):
    """A customer's rating (from ingest's `conversation.csat.received.v1`), for analytics."""

    __tablename__ = "csat_responses"
    __table_args__ = (Index("ix_csat_responses_tenant_id", "tenant_id", "responded_at"),)

    request_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    conversation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    score: Mapped[int] = mapped_column(Integer)
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    ai_resolved: Mapped[bool] = mapped_column()
    responded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
