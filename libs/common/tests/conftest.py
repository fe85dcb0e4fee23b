from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Table, text

from common.db import Database, make_metadata
from common.idempotency import processed_events_table
from common.outbox import outbox_table

SCHEMA = "common_test"
metadata = make_metadata(SCHEMA)
OUTBOX = outbox_table(metadata)
PROCESSED = processed_events_table(metadata)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The run's database with a scratch schema holding the shared tables, emptied per test."""
    database = Database(database_url, pool_size=2)
    async with database.engine.begin() as conn:
        await conn.execute(text(f'create schema if not exists "{SCHEMA}"'))
        await conn.run_sync(metadata.create_all)
        await conn.execute(text(f'truncate "{SCHEMA}".outbox, "{SCHEMA}".processed_events'))
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def outbox() -> Table:
    return OUTBOX


@pytest.fixture
def processed() -> Table:
    return PROCESSED
