"""Idempotent consumption: claim (consumer, event_id) in the handler's own transaction."""

import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    func,
)
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import Database
from common.events import Envelope

log = structlog.get_logger(__name__)


def processed_events_table(metadata: MetaData) -> Table:
    """The service's `processed_events` table, defined on its MetaData (once)."""
    key = f"{metadata.schema}.processed_events" if metadata.schema else "processed_events"
    if key in metadata.tables:
        return metadata.tables[key]
    return Table(
        "processed_events",
        metadata,
        Column("consumer", String(200), nullable=False),
        Column("event_id", UUID(as_uuid=True), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id"),
        # The retention purge deletes by age (common.retention).
        Index("ix_processed_events_processed_at", "processed_at"),
    )


async def claim(session: AsyncSession, table: Table, consumer: str, event_id: uuid.UUID) -> bool:
    """True the first time `consumer` sees `event_id`; False on a redelivery.

    Runs in the caller's transaction: if the handler's work rolls back, so does the claim.
    Two consumers never share a claim because the consumer name is part of the key.
    """
    result = await session.execute(
        insert(table)
        .values(consumer=consumer, event_id=event_id)
        .on_conflict_do_nothing()
        .returning(table.c.event_id)
    )
    return result.scalar_one_or_none() is not None


E = TypeVar("E", bound=Envelope)


def idempotent(
    db: Database, table: Table, consumer: str, handler: Callable[[AsyncSession, E], Awaitable[None]]
) -> Callable[[E], Awaitable[None]]:
    """Wrap a handler: one transaction per message, claim first, commit before the ack."""

    async def run(event: E) -> None:
        async with db.session() as session:
            if not await claim(session, table, consumer, event.event_id):
                log.info("event.duplicate_skipped")
                return
            await handler(session, event)

    return run
