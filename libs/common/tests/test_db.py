import uuid

import pytest
from sqlalchemy import Column, Integer, String, Table, UniqueConstraint, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateTable

from common.db import Database, async_url, ensure_database, make_metadata


def test_constraint_names_follow_the_convention() -> None:
    metadata = make_metadata("svc")
    table = Table(
        "things",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("code", String(8)),
        UniqueConstraint("code"),
    )
    ddl = str(CreateTable(table))
    assert "svc.things" in ddl
    assert "CONSTRAINT pk_things PRIMARY KEY" in ddl
    assert "CONSTRAINT uq_things_code UNIQUE" in ddl


def test_plain_postgres_urls_get_the_async_driver() -> None:
    assert async_url("postgresql://u:p@h:5/d").startswith("postgresql+asyncpg://u:p@h:5/d")
    assert async_url("postgresql+asyncpg://u@h/d") == "postgresql+asyncpg://u@h/d"


async def test_ensure_database_creates_it_once(server_database_url: str) -> None:
    name = f"wa_test_ensure_{uuid.uuid4().hex[:8]}"
    url = server_database_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        assert await ensure_database(url) is True
        assert await ensure_database(url) is False
        db = Database(url, pool_size=1)
        await db.ping()
        await db.dispose()
    finally:
        # The maintenance database: the dev database of DATABASE_URL may not exist yet.
        admin = Database(server_database_url.rsplit("/", 1)[0] + "/postgres", pool_size=1)
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'drop database if exists "{name}" with (force)'))
        await admin.dispose()


async def test_a_session_commits_or_rolls_back_as_a_unit(database_url: str) -> None:
    db = Database(database_url, pool_size=1)
    async with db.engine.begin() as conn:
        await conn.execute(text("create table if not exists unit_test (v int)"))
        await conn.execute(text("truncate unit_test"))
    try:
        async with db.session() as s:
            await s.execute(text("insert into unit_test values (1)"))
        try:
            async with db.session() as s:
                await s.execute(text("insert into unit_test values (2)"))
                raise ValueError("boom")
        except ValueError:
            pass
        async with db.session() as s:
            assert (await s.execute(text("select v from unit_test"))).scalars().all() == [1]
    finally:
        await db.dispose()


async def test_sql_errors_do_not_carry_the_bound_values(database_url: str) -> None:
    """Issue 12, finding 12: a failing statement's text (logged, copied into dead-letter
    headers) listed its parameters: message text, emails, password hashes."""
    secret = "ana@example.com argon2id$v=19$secret-hash"
    db = Database(database_url, pool_size=1)
    try:
        with pytest.raises(DBAPIError) as failed:
            async with db.session() as session:
                await session.execute(text("select 1 / 0 where :v <> ''"), {"v": secret})
        assert "division by zero" in str(failed.value)
        assert secret not in str(failed.value) and "secret-hash" not in repr(failed.value)
        assert "hidden" in str(failed.value)
    finally:
        await db.dispose()
