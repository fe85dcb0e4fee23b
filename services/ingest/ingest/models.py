import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.db import make_metadata
from common.idempotency import processed_events_table
from common.outbox import outbox_table

SCHEMA = "ingest"
metadata = make_metadata(SCHEMA)
outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)


class Base(DeclarativeBase):
    metadata = metadata


class Message(Base):
    """One WhatsApp message, stored once per wamid (Meta redelivers)."""

    __tablename__ = "messages"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    phone_number_id: Mapped[str] = mapped_column(String(64))
    wamid: Mapped[str] = mapped_column(String(255), unique=True)
    wa_id: Mapped[str | None] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(32))
    text: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
