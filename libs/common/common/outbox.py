"""Transactional outbox: events written with the business change, published by a relay.

`add_event` inserts a row in the caller's transaction, so an event leaves only if the change
committed. `OutboxRelay` publishes committed rows in order of creation with broker confirms
(`FOR UPDATE SKIP LOCKED`, so replicas share the work), marks them published in the same
transaction, and retries forever with backoff while the broker is away: no row is dropped.

A row holds the event's JSON as pydantic wrote it; the relay publishes that text as it is
(no decoding, no re-validation: it was valid when written, and consumers validate anyway).
"""

import asyncio
import contextlib
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import structlog
from prometheus_client import Counter, Gauge
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    cast,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from common.bus import Bus, Serialized
from common.db import OUTBOX_WRITTEN, Database
from common.events import Envelope

log = structlog.get_logger(__name__)

OUTBOX_OLDEST_AGE = Gauge(
    "outbox_oldest_unpublished_age_seconds", "Age of the oldest unpublished outbox row"
)
OUTBOX_PUBLISHED = Counter("outbox_published_total", "Outbox rows published and confirmed")


def outbox_table(metadata: MetaData) -> Table:
    """The service's `outbox` table, defined on its MetaData (once)."""
    key = f"{metadata.schema}.outbox" if metadata.schema else "outbox"
    if key in metadata.tables:
        return metadata.tables[key]
    return Table(
        "outbox",
        metadata,
        Column("event_id", UUID(as_uuid=True), primary_key=True),
        Column("event_type", String(200), nullable=False),
        Column("body", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text),
        Index(
            "ix_outbox_unpublished",
            "created_at",
            postgresql_where=text("published_at IS NULL"),
        ),
    )


async def add_event(session: AsyncSession, table: Table, event: Envelope) -> None:
    """Write `event` to the outbox in the caller's transaction (published after commit)."""
    await add_events(session, table, [event])


async def add_events(session: AsyncSession, table: Table, events: Sequence[Envelope]) -> None:
    """Several events, one statement (executemany); the same event id twice is kept once."""
    if not events:
        return
    await session.execute(
        insert(table)
        .values(
            event_id=bindparam("event_id"),
            event_type=bindparam("event_type"),
            # pydantic's own JSON (fast, exact), cast to JSONB by Postgres.
            body=cast(bindparam("body", type_=Text), JSONB),
        )
        .on_conflict_do_nothing(index_elements=["event_id"]),
        [
            {"event_id": e.event_id, "event_type": e.event_type, "body": e.model_dump_json()}
            for e in events
        ],
    )
    session.info[OUTBOX_WRITTEN] = True


class OutboxRelay:
    """Publishes committed outbox rows; wake it after a commit for low latency."""

    def __init__(
        self,
        db: Database,
        table: Table,
        bus: Bus,
        *,
        poll_interval: float = 0.5,
        batch_size: int = 200,
        retention: timedelta = timedelta(days=7),
        observe_interval: float = 1.0,
    ) -> None:
        self.db = db
        self.table = table
        self.bus = bus
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.retention = retention
        self.observe_interval = observe_interval
        self._last_observed = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_purge = 0.0
        self.last_error: str | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self.db.on_outbox_commit(self.wake)
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        backoff = self.poll_interval
        while True:
            try:
                published = await self.publish_pending()
                if time.monotonic() - self._last_observed >= self.observe_interval:
                    await self._observe()
                self.last_error = None
                backoff = self.poll_interval
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database away: keep the rows, try again
                self.last_error = repr(exc)
                log.warning("outbox.publish_failed", error=repr(exc), retry_in=backoff)
                # A wake (a commit, or the bus reconnecting) ends the wait early.
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    # asyncio.timeout: on 3.11 wait_for can swallow a stop's cancellation.
                    async with asyncio.timeout(backoff):
                        await self._wake.wait()
                backoff = min(backoff * 2, 5.0)
                continue
            if published >= self.batch_size:
                continue  # more are waiting
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout: on 3.11 wait_for can swallow a stop's cancellation.
                async with asyncio.timeout(self.poll_interval):
                    await self._wake.wait()

    async def publish_pending(self) -> int:
        """Publish one batch of committed rows; returns how many were published."""
        t = self.table
        async with self.db.sessionmaker() as session, session.begin():
            rows = (
                await session.execute(
                    select(
                        t.c.event_id,
                        t.c.event_type,
                        # The stored JSON as text: published as it is, never decoded here.
                        cast(t.c.body, Text).label("body"),
                        t.c.body["correlation_id"].astext.label("correlation_id"),
                        t.c.created_at,
                    )
                    .where(t.c.published_at.is_(None))
                    .order_by(t.c.created_at)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            await self.bus.publish_serialized(
                [
                    Serialized(
                        event_id=row.event_id,
                        event_type=row.event_type,
                        body=row.body.encode(),
                        correlation_id=row.correlation_id,
                        occurred_at=row.created_at,
                    )
                    for row in rows
                ]
            )
            await session.execute(
                update(t)
                .where(t.c.event_id.in_([row.event_id for row in rows]))
                .values(published_at=func.now(), attempts=t.c.attempts + 1)
            )
        OUTBOX_PUBLISHED.inc(len(rows))
        return len(rows)

    async def _observe(self) -> None:
        self._last_observed = time.monotonic()
        t = self.table
        async with self.db.sessionmaker() as session:
            oldest = await session.scalar(
                select(func.min(t.c.created_at)).where(t.c.published_at.is_(None))
            )
            now = datetime.now(UTC)
            OUTBOX_OLDEST_AGE.set((now - oldest).total_seconds() if oldest else 0.0)
            if time.monotonic() - self._last_purge > 600:
                self._last_purge = time.monotonic()
                await session.execute(delete(t).where(t.c.published_at < now - self.retention))
                await session.commit()
