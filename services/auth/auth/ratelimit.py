"""Fixed-window counters in Postgres: shared by every replica, no extra server to run."""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, text

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


class RateLimiter:
    """Each call runs in its own short transaction, so a counted failure stays counted even
    when the request that caused it is answered with an error (and rolled back)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def retry_after(self, limits: list[Limit]) -> int | None:
        """Seconds to wait if any limit is already reached, else None (counts nothing)."""
        now = datetime.now(UTC)
        async with self.db.sessionmaker() as session:
            rows = {
                b.key: b
                for b in await session.scalars(
                    select(RateLimitBucket).where(RateLimitBucket.key.in_([x.key for x in limits]))
                )
            }
        waits = []
        for limit in limits:
            bucket = rows.get(limit.key)
            if bucket is None:
                continue
            ends = bucket.window_start + timedelta(seconds=limit.window_s)
            if ends > now and bucket.count >= limit.max_count:
                waits.append(math.ceil((ends - now).total_seconds()))
        return max(waits) if waits else None

    async def hit(self, limits: list[Limit]) -> int | None:
        """Count one attempt against each limit; seconds to wait if one is now exceeded."""
        waits = []
        async with self.db.session() as session:
            for limit in limits:
                count, start = (
                    await session.execute(_HIT, {"key": limit.key, "window": limit.window_s})
                ).one()
                if count > limit.max_count:
                    ends = start + timedelta(seconds=limit.window_s)
                    waits.append(max(1, math.ceil((ends - datetime.now(UTC)).total_seconds())))
        return max(waits) if waits else None

    async def purge(self, older_than: timedelta = timedelta(days=1)) -> None:
        async with self.db.session() as session:
            await session.execute(
                delete(RateLimitBucket).where(
                    RateLimitBucket.window_start < datetime.now(UTC) - older_than
                )
            )
