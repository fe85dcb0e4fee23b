"""Fixed-window counters in Postgres: shared by every replica, no extra server to run."""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncSession

from auth.models import RateLimitBucket
from common.db import Database

_HIT = text(
    """
    insert into auth.rate_limit_buckets as b (key, window_start, count)
    values (:key, now(), 1)
    on conflict (key) do update set
      count = case when b.window_start <= now() - make_interval(secs => :window)
                   then 1 else b.count + 1 end,
      window_start = case when b.window_start <= now() - make_interval(secs => :window)
                          then now() else b.window_start end
    returning count, window_start
    """
)


@dataclass(frozen=True)
class Limit:
    key: str
    max_count: int
    window_s: int


_REFUND = text(
    """
    update auth.rate_limit_buckets set count = count - 1
    where key = :key and window_start = :start and count > 0
    """
)


@dataclass(frozen=True)
class Counted:
    """One attempt counted: the seconds to wait if a limit is exceeded, and the windows it was
    counted in (to take it back if it should not count)."""

    retry_after: int | None
    windows: tuple[tuple[str, datetime], ...]


class RateLimiter:
    """Each call runs in its own short transaction, so a counted attempt stays counted even
    when the request that caused it is answered with an error (and rolled back).

    An attempt is counted *before* the work it guards, in one atomic upsert per limit: two
    parallel attempts can never both see the count that lets them through."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def count(self, limits: list[Limit]) -> Counted:
        """Count one attempt against each limit; say how long to wait if one is now exceeded."""
        waits, windows = [], []
        async with self.db.session() as session:
            for limit in limits:
                count, start = (
                    await session.execute(_HIT, {"key": limit.key, "window": limit.window_s})
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
            await session.execute(_REFUND, {"key": key, "start": start})

    async def purge(self, older_than: timedelta = timedelta(days=1)) -> None:
        async with self.db.session() as session:
            await session.execute(
                delete(RateLimitBucket).where(
                    RateLimitBucket.window_start < datetime.now(UTC) - older_than
                )
            )
