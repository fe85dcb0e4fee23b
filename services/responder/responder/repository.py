"""The responder's queries, each scoped to the caller's tenant (a row keyed by a message id,
which Meta or ingest made unique, is the one exception: its tenant is in the row).

Request paths and the answering pipeline (responder.turns) and its bookkeeping consumers
(responder.consumers) read and write through here."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, delete, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from responder.models import (
    AISettings,
    ConversationTurn,
    PromptTemplate,
    Reply,
    SentMark,
    TenantName,
    TrackedMessage,
)


def _templates(tenant_id: uuid.UUID) -> Select[PromptTemplate]:
    return select(PromptTemplate).where(PromptTemplate.tenant_id == tenant_id)


async def template(
    session: AsyncSession, tenant_id: uuid.UUID, template_id: uuid.UUID
) -> PromptTemplate | None:
    return await session.scalar(_templates(tenant_id).where(PromptTemplate.id == template_id))


async def template_by_name(
    session: AsyncSession, tenant_id: uuid.UUID, name: str
) -> PromptTemplate | None:
    return await session.scalar(_templates(tenant_id).where(PromptTemplate.name == name))


async def templates_page(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[PromptTemplate]:
    query = _templates(tenant_id)
    if after is not None:
        query = query.where(tuple_(PromptTemplate.created_at, PromptTemplate.id) > after)
    query = query.order_by(PromptTemplate.created_at, PromptTemplate.id).limit(limit + 1)
    return list((await session.scalars(query)).all())


async def settings(session: AsyncSession, tenant_id: uuid.UUID) -> AISettings | None:
    return await session.get(AISettings, tenant_id)


# --- the answering pipeline (responder.turns) ------------------------------------------------


async def now(session: AsyncSession) -> datetime:
    """The database's clock (leases are compared with it, whichever replica wrote them)."""
    at: datetime = (await session.execute(select(func.clock_timestamp()))).scalar_one()
    return at


async def track_message(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    *,
    direction: str,
    author: str | None,
    created_at: datetime,
) -> None:
    """A message of the conversation, once (analytics count and time them)."""
    await session.execute(
        insert(TrackedMessage)
        .values(
            message_id=message_id,
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            direction=direction,
            author=author,
            created_at=created_at,
        )
        .on_conflict_do_nothing()
    )


async def mark_latest(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    at: datetime,
) -> None:
    """The latest customer message of the conversation wins (by time, then arrival)."""
    table = ConversationTurn.__table__
    statement = insert(ConversationTurn).values(
        conversation_id=conversation_id,
        tenant_id=tenant_id,
        latest_message_id=message_id,
        latest_at=at,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["conversation_id"],
            set_={
                "latest_message_id": statement.excluded.latest_message_id,
                "latest_at": statement.excluded.latest_at,
            },
            where=(table.c.latest_at.is_(None))
            | (table.c.latest_at <= statement.excluded.latest_at),
        )
    )


async def locked_turn(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID
) -> ConversationTurn | None:
    """The conversation's turn, locked until the transaction ends."""
    return await session.scalar(
        select(ConversationTurn)
        .where(
            ConversationTurn.tenant_id == tenant_id,
            ConversationTurn.conversation_id == conversation_id,
        )
        .with_for_update()
    )


async def has_reply(session: AsyncSession, tenant_id: uuid.UUID, message_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(Reply.id).where(Reply.tenant_id == tenant_id, Reply.message_id == message_id)
    )
    return found is not None


async def release_turn(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID, lease_id: uuid.UUID
) -> None:
    """Give the turn back, if the lease is still this one."""
    await session.execute(
        update(ConversationTurn)
        .where(
            ConversationTurn.tenant_id == tenant_id,
            ConversationTurn.conversation_id == conversation_id,
            ConversationTurn.lease_id == lease_id,
        )
        .values(lease_id=None, leased_message_id=None, leased_until=None)
    )


# --- bookkeeping (responder.consumers) -------------------------------------------------------


async def save_tenant_name(session: AsyncSession, tenant_id: uuid.UUID, name: str) -> None:
    statement = insert(TenantName).values(tenant_id=tenant_id, name=name)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["tenant_id"], set_={"name": statement.excluded.name}
        )
    )


async def reset_memory(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID, at: datetime
) -> None:
    """The AI forgets the conversation before `at` (it was resolved then)."""
    statement = insert(ConversationTurn).values(
        conversation_id=conversation_id, tenant_id=tenant_id, memory_reset_at=at
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["conversation_id"],
            set_={"memory_reset_at": statement.excluded.memory_reset_at},
        )
    )


async def erase_conversations_text(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_ids: Sequence[uuid.UUID]
) -> None:
    """The customer's words go (answers, reasons, quoted passages, the AI's memory); ids and
    timestamps stay, so past analytics keep their counts and response times."""
    await session.execute(
        update(Reply)
        .where(Reply.tenant_id == tenant_id, Reply.conversation_id.in_(conversation_ids))
        .values(text=None, handoff_reason=None, sources=[])
    )
    await session.execute(
        delete(ConversationTurn).where(
            ConversationTurn.tenant_id == tenant_id,
            ConversationTurn.conversation_id.in_(conversation_ids),
        )
    )


async def mark_sent(session: AsyncSession, message_id: uuid.UUID, at: datetime) -> None:
    """When a reply was first accepted by Meta (the earliest status counts, whatever order
    they arrive in). Keyed by the message id alone: it is unique across tenants."""
    statement = insert(SentMark).values(message_id=message_id, sent_at=at)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["message_id"],
            set_={"sent_at": statement.excluded.sent_at},
            where=SentMark.__table__.c.sent_at > statement.excluded.sent_at,
        )
    )
