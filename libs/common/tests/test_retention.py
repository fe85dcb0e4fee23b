"""The retention purge against real Postgres: old rows go in batches, recent ones stay."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Table, func, insert, select, text

from common.db import Database
from common.idempotency import claim
from common.retention import Purger, Retention


async def add_claims(db: Database, processed: Table, count: int, age: timedelta) -> None:
    now = datetime.now(UTC)
    async with db.session() as session:
        await session.execute(
            insert(processed),
            [
                {"consumer": "c", "event_id": uuid.uuid4(), "processed_at": now - age}
                for _ in range(count)
            ],
        )


async def count(db: Database, processed: Table) -> tuple[int, int]:
    """(rows older than a week, the rest)."""
    async with db.sessionmaker() as session:
        old = await session.scalar(
            select(func.count()).where(
                processed.c.processed_at < func.now() - text("'7 days'::interval")
            )
        )
        total = await session.scalar(select(func.count()).select_from(processed))
    return int(old or 0), int(total or 0) - int(old or 0)


async def test_rows_past_their_retention_are_deleted_in_batches_and_the_rest_kept(
    db: Database, processed: Table
) -> None:
    await add_claims(db, processed, 2_345, timedelta(days=20))
    await add_claims(db, processed, 17, timedelta(days=1))
    purger = Purger(db, [Retention(processed, "processed_at", timedelta(days=7))], batch_size=1000)
    assert await purger.purge() == {processed.fullname: 2_345}
    assert await count(db, processed) == (0, 17)
    assert await purger.purge() == {processed.fullname: 0}  # nothing twice


async def test_a_claim_is_recognised_until_purged(db: Database, processed: Table) -> None:
    event_id = uuid.uuid4()
    async with db.session() as session:
        assert await claim(session, processed, "c", event_id)
    async with db.session() as session:
        assert not await claim(session, processed, "c", event_id)  # a redelivery
    purger = Purger(db, [Retention(processed, "processed_at", timedelta(seconds=0))])
    await purger.purge()
    async with db.session() as session:
        # Past its retention a replayed event counts as new: hence the long default (14 days).
        assert await claim(session, processed, "c", event_id)


def test_a_rule_names_a_column_of_its_table(processed: Table) -> None:
    with pytest.raises(ValueError, match="no column 'created_at'"):
        Purger(None, [Retention(processed, "created_at", timedelta(days=1))])  # type: ignore[arg-type]
