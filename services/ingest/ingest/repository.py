"""Every query of ingest's tables; reads of tenant data start from a tenant-scoped statement."""

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_attribute

from common.db import Database
from common.pagination import PageQuery, keyset, trim_page
from ingest.models import Channel, Contact, Conversation, MediaChunk, MediaFile, Message


def channels(tenant_id: uuid.UUID) -> Select[Channel]:
    return select(Channel).where(Channel.tenant_id == tenant_id, Channel.deleted_at.is_(None))


def conversations(tenant_id: uuid.UUID) -> Select[Conversation, Contact]:
    return (
        select(Conversation, Contact)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(Conversation.tenant_id == tenant_id)
    )


def touch(conversation: Conversation, now: datetime | None = None) -> None:
    """Every change to a conversation goes through here: its `version` goes up by one in the
    same UPDATE, counted by Postgres (`version + 1`: two writers never hand out one number),
    and `updated_at` becomes now. Touching it again before the flush still counts one.
    A bulk UPDATE of conversations must set `version=Conversation.version + 1` likewise."""
    set_attribute(conversation, "version", Conversation.version + 1)
    conversation.updated_at = now or datetime.now(UTC)


def contacts(tenant_id: uuid.UUID) -> Select[Contact]:
    return select(Contact).where(Contact.tenant_id == tenant_id)


def messages(tenant_id: uuid.UUID) -> Select[Message]:
    return select(Message).where(Message.tenant_id == tenant_id)


async def get_channel(
    session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID
) -> Channel | None:
    return await session.scalar(channels(tenant_id).where(Channel.id == channel_id))


async def channel_by_number(session: AsyncSession, phone_number_id: str) -> Channel | None:
    """Routing: the connected channel of a business number, whichever tenant owns it."""
    return await session.scalar(
        select(Channel).where(
            Channel.phone_number_id == phone_number_id, Channel.deleted_at.is_(None)
        )
    )


async def list_channels(
    session: AsyncSession, tenant_id: uuid.UUID, page: PageQuery
) -> tuple[list[Channel], str | None]:
    stmt = keyset(channels(tenant_id), page, Channel.created_at, Channel.id)
    rows = list(await session.scalars(stmt))
    return trim_page(rows, page.limit, lambda c: (c.created_at.isoformat(), c.id))


async def get_conversation(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID, *, lock: bool = False
) -> tuple[Conversation, Contact] | None:
    stmt = conversations(tenant_id).where(Conversation.id == conversation_id)
    if lock:
        stmt = stmt.with_for_update(of=Conversation)
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row else None


async def list_conversations(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    page: PageQuery,
    *,
    status: str | None,
    q: str | None,
    filters: Sequence[ColumnElement[bool]] = (),
) -> tuple[list[tuple[Conversation, Contact]], str | None]:
    stmt = conversations(tenant_id).where(*filters)
    if status:
        stmt = stmt.where(Conversation.status == status)
    if q:
        pattern = f"%{_escape_like(q)}%"
        stmt = stmt.where(
            or_(
                Contact.name.ilike(pattern, escape="\\"),
                Contact.wa_id.ilike(pattern, escape="\\"),
                exists().where(
                    Message.tenant_id == tenant_id,
                    Message.conversation_id == Conversation.id,
                    Message.text.ilike(pattern, escape="\\"),
                ),
            )
        )
    stmt = keyset(stmt, page, Conversation.last_message_at, Conversation.id, descending=True)
    rows = [(r[0], r[1]) for r in (await session.execute(stmt)).all()]
    return trim_page(rows, page.limit, lambda r: (r[0].last_message_at.isoformat(), r[0].id))


async def list_messages(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID, page: PageQuery
) -> tuple[list[Message], str | None]:
    stmt = messages(tenant_id).where(Message.conversation_id == conversation_id)
    rows = list(await session.scalars(keyset(stmt, page, Message.created_at, Message.id)))
    return trim_page(rows, page.limit, lambda m: (m.created_at.isoformat(), m.id))


async def recent_history(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    before: Message,
    limit: int,
) -> list[Message]:
    """The `limit` messages before `before`, oldest first."""
    if limit <= 0:
        return []
    stmt = (
        messages(tenant_id)
        .where(
            Message.conversation_id == conversation_id,
            Message.id != before.id,
            Message.created_at <= before.created_at,
            Message.direction != "internal",  # the team's notes are not the AI's history
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit)
    )
    return list(reversed(list(await session.scalars(stmt))))


def _conversation_count() -> Any:
    return (
        select(func.count())
        .where(Conversation.contact_id == Contact.id)
        .correlate(Contact)
        .scalar_subquery()
    )


async def get_contact(
    session: AsyncSession, tenant_id: uuid.UUID, contact_id: uuid.UUID
) -> tuple[Contact, int] | None:
    row = (
        await session.execute(
            select(Contact, _conversation_count()).where(
                Contact.tenant_id == tenant_id, Contact.id == contact_id
            )
        )
    ).first()
    return (row[0], int(row[1])) if row else None


async def list_contacts(
    session: AsyncSession, tenant_id: uuid.UUID, page: PageQuery
) -> tuple[list[tuple[Contact, int]], str | None]:
    stmt = select(Contact, _conversation_count()).where(Contact.tenant_id == tenant_id)
    stmt = keyset(stmt, page, Contact.last_seen_at, Contact.id, descending=True)
    rows = [(r[0], int(r[1])) for r in (await session.execute(stmt)).all()]
    return trim_page(rows, page.limit, lambda r: (r[0].last_seen_at.isoformat(), r[0].id))


async def get_media(
    session: AsyncSession, tenant_id: uuid.UUID, message_id: uuid.UUID
) -> MediaFile | None:
    return await session.scalar(
        select(MediaFile).where(
            MediaFile.tenant_id == tenant_id, MediaFile.message_id == message_id
        )
    )


async def media_chunks(
    db: Database, message_id: uuid.UUID, *, per_query: int = 4
) -> AsyncIterator[bytes]:
    """A media file's bytes in order, a few chunks per query, each query in its own short
    session: a slow reader holds neither the whole file nor a connection between reads."""
    seq = 0
    while True:
        async with db.sessionmaker() as session:
            rows = (
                await session.scalars(
                    select(MediaChunk.content)
                    .where(
                        MediaChunk.message_id == message_id,
                        MediaChunk.seq >= seq,
                        MediaChunk.seq < seq + per_query,
                    )
                    .order_by(MediaChunk.seq)
                )
            ).all()
        for content in rows:
            yield content
        if len(rows) < per_query:
            return
        seq += per_query


def _dt(value: Any) -> datetime:
    from common.errors import AppError

    try:
        return datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise AppError(400, "invalid cursor") from exc


def _uuid(value: Any) -> uuid.UUID:
    from common.errors import AppError

    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise AppError(400, "invalid cursor") from exc


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
