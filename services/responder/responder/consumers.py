"""The responder's subscriptions: answering customer turns, and the bookkeeping (business
names, memory resets, delivery times) that analytics and prompts need."""

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from common.bus import Subscription
from common.db import Database
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
from responder import csat, repository
from responder.models import processed_events
from responder.turns import TurnHandler

E = TypeVar("E", bound=Envelope)

ANSWERS = "responder.answers"
BOOKKEEPING = "responder.bookkeeping"

ACCEPTED = frozenset({"sent", "delivered", "read", "played"})


async def on_tenant_created(session: AsyncSession, event: TenantCreatedV1) -> None:
    await repository.save_tenant_name(session, event.payload.tenant_id, event.payload.name)


async def on_conversation_updated(session: AsyncSession, event: ConversationUpdatedV1) -> None:
    if event.tenant_id is None:
        return
    await csat.on_conversation_updated(session, event.tenant_id, event.payload, event.occurred_at)
    if event.payload.status == "resolved":  # when it reopens, the AI starts with a clean memory
        await repository.reset_memory(session, event.tenant_id, event.payload.id, event.occurred_at)


async def on_contact_erased(session: AsyncSession, event: ContactErasedV1) -> None:
    if event.tenant_id is not None:
        await repository.erase_conversations_text(
            session, event.tenant_id, event.payload.conversation_ids
        )


async def on_csat_received(session: AsyncSession, event: ConversationCSATReceivedV1) -> None:
    if event.tenant_id is not None:
        await csat.on_csat_received(session, event.tenant_id, event.payload)


async def on_message_status(session: AsyncSession, event: MessageStatusUpdatedV1) -> None:
    if event.payload.status in ACCEPTED:
        await repository.mark_sent(session, event.payload.message_id, event.occurred_at)


def subscriptions(db: Database, turns: TurnHandler) -> list[Subscription]:
    """The responder's consumers, given what they work with (built by responder.main, the
    composition root). The consumer names are the queue names: operations and dead letters
    know them."""

    async def on_message_stored(event: ConversationMessageStoredV1) -> None:
        assert event.tenant_id is not None
        await turns(event.tenant_id, event.payload)

    def bookkeeping(
        handler: Callable[[AsyncSession, E], Awaitable[None]],
    ) -> Callable[[E], Awaitable[None]]:
        return idempotent(db, processed_events, BOOKKEEPING, handler)

    return [
        Subscription.of(ANSWERS, {ConversationMessageStoredV1: on_message_stored}),
        Subscription.of(
            BOOKKEEPING,
            {
                TenantCreatedV1: bookkeeping(on_tenant_created),
                ConversationUpdatedV1: bookkeeping(on_conversation_updated),
                MessageStatusUpdatedV1: bookkeeping(on_message_status),
                ContactErasedV1: bookkeeping(on_contact_erased),
                ConversationCSATReceivedV1: bookkeeping(on_csat_received),
            },
        ),
    ]
