"""Fixed-window counters in Postgres: shared by every replica, no extra server to run.

Each service keeps its counters in its own schema (`rate_limit_buckets_table(metadata)` plus a
migration); `FixedWindowLimiter` counts against that table."""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, text
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import Database
from common.errors import AppError


def rate_limit_buckets_table(metadata: MetaData) -> Table:
    """The service's `rate_limit_buckets` table, defined on its MetaData (once)."""
    key = f"{metadata.schema}.rate_limit_buckets" if metadata.schema else "rate_limit_buckets"
    if key in metadata.tables:
        return metadata.tables[key]
    return Table(
        "rate_limit_buckets",
        metadata,
        Column("key", String(400), primary_key=True),
        Column("window_start", DateTime(timezone=True), nullable=False),
        Column("count", Integer, nullable=False),
    )


@dataclass(frozen=True)
class Limit:
    key: str
    max_count: int
    window_s: int


@dataclass(frozen=True)
class Counted:
    """One attempt counted: the seconds to wait if a limit is exceeded, and the windows it was
    counted in (to take it back if it should not count)."""

    retry_after: int | None
    windows: tuple[tuple[str, datetime], ...]


def too_many(retry_after: int, detail: str = "too many attempts; try again later") -> AppError:
    """The 429 for an exceeded limit: a JSON detail and `Retry-After` in seconds."""
    return AppError(429, detail, headers={"Retry-After": str(retry_after)})


class FixedWindowLimiter:
    """Each call runs in its own short transaction, so a counted attempt stays counted even
    when the request that caused it is answered with an error (and rolled back).

    An attempt is counted *before* the work it guards, in one atomic upsert per limit: two
    parallel attempts can never both see the count that lets them through."""

    def __init__(self, db: Database, table: Table) -> None:
        self.db = db
        self.table = table
        name = f"{table.schema}.{table.name}" if table.schema else table.name
        self._hit = text(
            f"""
            insert into {name} as b (key, window_start, count)
            values (:key, now(), 1)
            on conflict (key) do update set
              count = case when b.window_start <= now() - make_interval(secs => :window)
                           then 1 else b.count + 1 end,
              window_start = case when b.window_start <= now() - make_interval(secs => :window)
                                  then now() else b.window_start end
            returning count, window_start
            """
        )
        self._refund = text(
            f"""
            update {name} set count = count - 1
            where key = :key and window_start = :start and count > 0
            """
        )

    async def count(self, limits: list[Limit]) -> Counted:
        """Count one attempt against each limit; say how long to wait if one is now exceeded.
        A limit of 0 or less is no limit (not counted)."""
        waits, windows = [], []
        async with self.db.session() as session:
            for limit in limits:
                if limit.max_count <= 0:
                    continue
                count, start = (
                    await session.execute(self._hit, {"key": limit.key, "window": limit.window_s})
                ).one()
                windows.append((limit.key, start))
                if count > limit.max_count:
                    ends = start + timedelta(seconds=limit.window_s)
                    waits.append(max(1, math.ceil((ends - datetime.now(UTC)).total_seconds())))
        return Counted(max(waits) if waits else None, tuple(windows))

    async def hit(self, limits: list[Limit]) -> int | None:
        """Count one attempt against each limit; seconds to wait if one is now exceeded."""
        return (await self.count(limits)).retry_after

    async def refund(self, session: AsyncSession, counted: Counted) -> None:
        """Take an attempt back (it succeeded), in the windows it was counted in only. In the
        caller's transaction: the refund holds if the success is committed, and a request
        never holds two pooled connections at once."""
        for key, start in counted.windows:
            await session.execute(self._refund, {"key": key, "start": start})
