"""The one place ingest shapes its conversations, contacts and messages for the API and for
events, and writes the events it emits about them (stored, updated, status), with the
metrics of what it stores."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from common.events import (
    ContactSummary,
    ConversationMessageStoredPayload,
    ConversationMessageStoredV1,
    ConversationSummary,
    ConversationUpdatedV1,
    HistoryItem,
    MessageStatusUpdatedPayload,
    MessageStatusUpdatedV1,
    MessageSummary,
)
from common.logging import get_correlation_id
from common.outbox import add_event
from ingest import csat, repository
from ingest.models import (
    Channel,
    Contact,
    Conversation,
    Message,
    outbox,
)
from ingest.settings import IngestSettings

log = structlog.get_logger(__name__)

UNKNOWN_NUMBER = Counter(
    "ingest_unknown_number_total", "Webhook items for a number no tenant connected", ["kind"]
)
MESSAGES_STORED = Counter("ingest_messages_stored_total", "Messages stored", ["direction"])


def contact_summary(contact: Contact) -> ContactSummary:
    return ContactSummary(id=contact.id, wa_id=contact.wa_id, name=contact.name)


def window_closes_at(
    last_inbound_at: datetime | None, window_hours: float, now: datetime | None = None
) -> datetime | None:
    """When the customer-service window closes; None when it is closed or was never open."""
    if last_inbound_at is None:
        return None
    closes = last_inbound_at + timedelta(hours=window_hours)
    return closes if closes > (now or datetime.now(UTC)) else None


def conversation_summary(
    conversation: Conversation, contact: Contact, window_hours: float
) -> ConversationSummary:
    return ConversationSummary(
        id=conversation.id,
        channel_id=conversation.channel_id,
        contact=contact_summary(contact),
        status=conversation.status,
        ai_enabled=conversation.ai_enabled,
        last_message_at=conversation.last_message_at,
        last_message_preview=conversation.last_message_preview,
        unread_count=conversation.unread_count,
        last_inbound_at=conversation.last_inbound_at,
        handoff_reason=conversation.handoff_reason,
        window_closes_at=window_closes_at(conversation.last_inbound_at, window_hours),
        assignee_id=conversation.assignee_id,
        csat=csat.rating(conversation),
        version=conversation.version,
    )


def message_summary(message: Message) -> MessageSummary:
    return MessageSummary(
        id=message.id,
        conversation_id=message.conversation_id,
        wamid=message.wamid,
        direction=message.direction,
        author=message.author,
        type=message.type,
        text=message.text,
        media=message.media,
        context=message.context,
        reaction=message.reaction,
        sources=message.sources or [],
        status=message.status,
        error=message.error,
        created_at=message.created_at,
    )


def stored_event(
    channel: Channel,
    conversation: Conversation,
    contact: Contact,
    message: Message,
    history: list[Message],
    correlation_id: str | None,
    *,
    csat_reply: bool = False,
) -> ConversationMessageStoredV1:
    return ConversationMessageStoredV1(
        tenant_id=conversation.tenant_id,
        correlation_id=correlation_id,
        payload=ConversationMessageStoredPayload(
            conversation_id=conversation.id,
            channel_id=channel.id,
            phone_number_id=channel.phone_number_id,
            contact=contact_summary(contact),
            message=message_summary(message),
            conversation_status=conversation.status,
            ai_enabled=conversation.ai_enabled,
            history=[
                HistoryItem(
                    direction=m.direction,
                    author=m.author,
                    type=m.type,
                    text=m.text,
                    created_at=m.created_at,
                )
                for m in history
            ],
            csat_reply=csat_reply,
        ),
    )


async def stored_with_history(
    session: AsyncSession,
    settings: IngestSettings,
    channel: Channel,
    conversation: Conversation,
    contact: Contact,
    message: Message,
) -> ConversationMessageStoredV1:
    """The message's stored event, its recent history read from the database."""
    history = await repository.recent_history(
        session,
        conversation.tenant_id,
        conversation.id,
        before=message,
        limit=settings.history_messages,
    )
    return stored_event(channel, conversation, contact, message, history, get_correlation_id())


def conversation_updated(
    conversation: Conversation, contact: Contact, window_hours: float
) -> ConversationUpdatedV1:
    return ConversationUpdatedV1(
        tenant_id=conversation.tenant_id,
        payload=conversation_summary(conversation, contact, window_hours),
    )


async def emit_conversation_updated(
    session: AsyncSession, conversation: Conversation, contact: Contact, window_hours: float
) -> None:
    await add_event(session, outbox, conversation_updated(conversation, contact, window_hours))


async def emit_status_updated(session: AsyncSession, tenant_id: uuid.UUID, **payload: Any) -> None:
    """The one place a message's status change becomes an event (delivery, Meta's statuses,
    media)."""
    await add_event(
        session,
        outbox,
        MessageStatusUpdatedV1(tenant_id=tenant_id, payload=MessageStatusUpdatedPayload(**payload)),
    )
