"""Purging the tables that would otherwise grow forever (claims, rate-limit windows, orphan
statuses): each service names its rules, and one task per process deletes what is older
than each rule keeps, a batch at a time (short transactions, no long lock), on a schedule.

Replicas may purge at once: the batches skip rows another replica is deleting.
"""

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import structlog
from prometheus_client import Counter
from sqlalchemy import Table, text

from common.db import Database
from common.settings import CommonSettings

log = structlog.get_logger(__name__)

PURGED = Counter("retention_purged_rows_total", "Rows deleted by the retention purge", ["table"])


@dataclass(frozen=True)
class Retention:
    """Rows of `table` whose `column` (a timestamp) is older than `keep` are deleted."""

    table: Table
    column: str
    keep: timedelta

    @property
    def name(self) -> str:
        return self.table.fullname


def claims_kept(table: Table, settings: CommonSettings) -> Retention:
    """The rule for a service's `processed_events` (PROCESSED_EVENTS_RETENTION_DAYS)."""
    return Retention(
        table, "processed_at", timedelta(days=settings.processed_events_retention_days)
    )


def windows_kept(table: Table) -> Retention:
    """The rule for a service's `rate_limit_buckets` (common.ratelimit): a window is at most
    minutes long, so a day-old one counts nothing."""
    return Retention(table, "window_start", timedelta(days=1))


class Purger:
    def __init__(
        self,
        db: Database,
        rules: Sequence[Retention],
        *,
        interval_s: float = 3600.0,
        batch_size: int = 5000,
    ) -> None:
        for rule in rules:
            if rule.column not in rule.table.c:
                raise ValueError(f"{rule.name} has no column {rule.column!r}")
        self.db = db
        self.rules = list(rules)
        self.interval_s = interval_s
        self.batch_size = batch_size
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="retention-purge")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            # Not at start-up: a process starting (or a fleet restarting) has better use for
            # its connections than a cleanup that can wait.
            await asyncio.sleep(self.interval_s)
            try:
                await self.purge()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database away: the next round catches up
                log.warning("retention.purge_failed", error=repr(exc))

    async def purge(self) -> dict[str, int]:
        """One round over every rule; returns the rows deleted per table."""
        deleted: dict[str, int] = {}
        for rule in self.rules:
            total = 0
            while True:
                n = await self._delete_batch(rule)
                total += n
                if n < self.batch_size:
                    break
            deleted[rule.name] = total
            if total:
                PURGED.labels(rule.name).inc(total)
                log.info("retention.purged", table=rule.name, rows=total)
        return deleted

    async def _delete_batch(self, rule: Retention) -> int:
        table = rule.table.fullname  # names from our own metadata, never from input
        column = rule.column
        statement = text(
            f"delete from {table} where ctid in ("
            f"select ctid from {table} where {column} < now() - cast(:keep as interval) "
            "limit :batch for update skip locked)"
        )
        async with self.db.session() as session:
            result = await session.execute(statement, {"keep": rule.keep, "batch": self.batch_size})
            return int(result.rowcount or 0)  # type: ignore[attr-defined]
