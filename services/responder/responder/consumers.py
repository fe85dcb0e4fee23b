"""The responder's subscriptions: answering customer turns, and the bookkeeping (business
names, memory resets, delivery times) that analytics and prompts need."""

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from common.bus import Subscription
from common.events import (
    ContactErasedV1,
    ConversationCSATReceivedV1,
    ConversationMessageStoredV1,
    ConversationUpdatedV1,
    Envelope,
    MessageStatusUpdatedV1,
    TenantCreatedV1,
)
from common.idempotency import idempotent
from responder import csat
from responder.models import ConversationTurn, Reply, SentMark, TenantName, processed_events

if TYPE_CHECKING:
    from responder.main import ResponderRuntime

ANSWERS = "responder.answers"
BOOKKEEPING = "responder.bookkeeping"
CONSUMERS = [ANSWERS, BOOKKEEPING]

ACCEPTED = frozenset({"sent", "delivered", "read", "played"})


async def on_bookkeeping(session: AsyncSession, event: Envelope) -> None:
    if isinstance(event, TenantCreatedV1):
        statement = insert(TenantName).values(
            tenant_id=event.payload.tenant_id, name=event.payload.name
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["tenant_id"], set_={"name": statement.excluded.name}
            )
        )
    elif isinstance(event, ConversationUpdatedV1) and event.tenant_id is not None:
        await csat.on_conversation_updated(
            session, event.tenant_id, event.payload, event.occurred_at
        )
        if event.payload.status != "resolved":
            return
        # Resolved: when it reopens, the AI starts with a clean memory.
        statement = insert(ConversationTurn).values(
            conversation_id=event.payload.id, tenant_id=event.tenant_id,
            memory_reset_at=event.occurred_at,
        )  # fmt: skip
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["conversation_id"],
                set_={"memory_reset_at": statement.excluded.memory_reset_at},
            )
        )
    elif isinstance(event, ContactErasedV1) and event.tenant_id is not None:
        # The customer's words go (answers, reasons, quoted passages); ids and timestamps
        # stay, so past analytics keep their counts and response times.
        conversations = event.payload.conversation_ids
        await session.execute(
            update(Reply)
            .where(Reply.tenant_id == event.tenant_id, Reply.conversation_id.in_(conversations))
            .values(text=None, handoff_reason=None, sources=[])
        )
        await session.execute(
            delete(ConversationTurn).where(
                ConversationTurn.tenant_id == event.tenant_id,
                ConversationTurn.conversation_id.in_(conversations),
            )
        )
    elif isinstance(event, ConversationCSATReceivedV1) and event.tenant_id is not None:
        await csat.on_csat_received(session, event.tenant_id, event.payload)
    elif isinstance(event, MessageStatusUpdatedV1) and event.payload.status in ACCEPTED:
        statement = insert(SentMark).values(
            message_id=event.payload.message_id, sent_at=event.occurred_at
        )
        # The earliest acceptance counts, whatever order the statuses arrive in.
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["message_id"],
                set_={"sent_at": statement.excluded.sent_at},
                where=SentMark.__table__.c.sent_at > statement.excluded.sent_at,
            )
        )


def subscriptions(runtime: "ResponderRuntime") -> Sequence[Subscription]:
    assert runtime.db is not None

    async def on_message_stored(event: Envelope) -> None:
        assert isinstance(event, ConversationMessageStoredV1) and event.tenant_id is not None
        await runtime.turns(event.tenant_id, event.payload)

    return [
        Subscription(ANSWERS, ("conversation.message.stored.v1",), on_message_stored),
        Subscription(
            BOOKKEEPING,
            (
                "tenant.created.v1",
                "conversation.updated.v1",
                "message.status.updated.v1",
                "contact.erased.v1",
                "conversation.csat.received.v1",
            ),
            idempotent(runtime.db, processed_events, BOOKKEEPING, on_bookkeeping),
        ),
    ]
