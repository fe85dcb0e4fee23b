"""The conversation state CSAT decides on: saved with the status it replaced, in one
statement; an older update delivered late writes nothing."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from common.db import Database
from responder import repository
from responder.repository import PreviousStatus
from responder.settings import ResponderSettings


@pytest.fixture
async def db(responder_settings: ResponderSettings) -> AsyncIterator[Database]:
    database = Database(responder_settings.database_url, pool_size=4)
    try:
        yield database
    finally:
        await database.dispose()


async def save(
    db: Database, tenant: uuid.UUID, conversation: uuid.UUID, status: str, at: datetime
) -> PreviousStatus | None:
    async with db.session() as session:
        return await repository.save_conversation_state(session, tenant, conversation, status, at)


async def stored(db: Database, conversation: uuid.UUID) -> tuple[str, datetime] | None:
    async with db.session() as session:
        row = (
            await session.execute(
                text(
                    "select status, updated_at from responder.conversation_states"
                    " where conversation_id = :c"
                ),
                {"c": conversation},
            )
        ).one_or_none()
    return None if row is None else (row.status, row.updated_at)


async def test_the_previous_status_is_returned_and_a_late_update_writes_nothing(
    db: Database,
) -> None:
    tenant, chat = uuid.uuid4(), uuid.uuid4()
    at = datetime.now(UTC)
    assert await save(db, tenant, chat, "open", at) == PreviousStatus(None)
    assert await save(db, tenant, chat, "resolved", at + timedelta(seconds=2)) == PreviousStatus(
        "open"
    )
    # The same moment again (a label on the resolved conversation): saved, was resolved.
    assert await save(db, tenant, chat, "resolved", at + timedelta(seconds=2)) == PreviousStatus(
        "resolved"
    )
    assert await save(db, tenant, chat, "open", at + timedelta(seconds=1)) is None
    assert await stored(db, chat) == ("resolved", at + timedelta(seconds=2))
    # Another tenant's update of the conversation id changes nothing.
    assert await save(db, uuid.uuid4(), chat, "open", at + timedelta(seconds=3)) is None
    assert await stored(db, chat) == ("resolved", at + timedelta(seconds=2))


async def test_concurrent_updates_see_each_other_once_committed(db: Database) -> None:
    """The row is locked before it is written: an update waiting on another's transaction
    sees the status that one committed, not the one before it."""
    tenant, chat = uuid.uuid4(), uuid.uuid4()
    at = datetime.now(UTC)
    await save(db, tenant, chat, "open", at)
    async with db.session() as first:
        held = await repository.save_conversation_state(
            first, tenant, chat, "resolved", at + timedelta(seconds=1)
        )
        second = asyncio.create_task(save(db, tenant, chat, "resolved", at + timedelta(seconds=2)))
        await asyncio.sleep(0.3)
        assert not second.done()  # waits for the first's lock
    assert held == PreviousStatus("open")
    assert await second == PreviousStatus("resolved")
    assert await stored(db, chat) == ("resolved", at + timedelta(seconds=2))


async def test_the_first_two_updates_of_a_conversation_do_not_both_see_it_new(
    db: Database,
) -> None:
    """No row yet, so no row to lock: two resolutions racing on a new conversation each saw
    "not known yet", and each asked for a rating. The second now waits for the first."""
    tenant, chat = uuid.uuid4(), uuid.uuid4()
    at = datetime.now(UTC)
    async with db.session() as first:
        held = await repository.save_conversation_state(first, tenant, chat, "resolved", at)
        second = asyncio.create_task(save(db, tenant, chat, "resolved", at + timedelta(seconds=1)))
        await asyncio.sleep(0.3)
    assert held == PreviousStatus(None)
    assert await second == PreviousStatus("resolved")
    assert await stored(db, chat) == ("resolved", at + timedelta(seconds=1))
