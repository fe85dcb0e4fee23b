"""Async SQLAlchemy 2 + asyncpg: one schema per service, a session per request or message."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import MetaData, event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

# Predictable constraint names, so Alembic autogenerate and later migrations agree.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A key in `session.info` that marks a transaction as having written outbox rows.
OUTBOX_WRITTEN = "outbox_written"


def make_metadata(schema: str) -> MetaData:
    """The MetaData of one service: every table in its own schema."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def async_url(url: str) -> str:
    """Accept `postgresql://` URLs too: the driver is always asyncpg."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


class Database:
    """An engine and its session factory, plus hooks run after a commit that wrote events."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.engine: AsyncEngine = create_async_engine(
            async_url(url),
            # At most 2 x pool_size connections, as before (pool_size + as many overflow), but
            # all of them kept: an overflow connection closed on return was reopened (TLS
            # attempt, login, an empty statement cache) by the next burst.
            pool_size=2 * pool_size,
            max_overflow=0,
            echo=echo,
            # An error's text goes to logs and dead-letter headers: without this it carries the
            # bound values (message text, emails, password hashes).
            hide_parameters=True,
        )
        # Instead of pool_pre_ping (BEGIN, a query and ROLLBACK at every checkout: three round
        # trips per transaction): a connection the server closed (a restart) is already marked
        # closed by asyncpg, so it is replaced at checkout for free. One that died unnoticed
        # fails its statement as a disconnect, which invalidates the pool's older connections.
        event.listen(self.engine.sync_engine, "checkout", _replace_if_closed)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self._after_outbox_commit: list[Callable[[], None]] = []

    def on_outbox_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` after each commit that wrote outbox rows (wakes the relay)."""
        self._after_outbox_commit.append(callback)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits when the block ends, rolls back if it raises."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
        if session.info.pop(OUTBOX_WRITTEN, False):
            for callback in self._after_outbox_commit:
                callback()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("select 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def _replace_if_closed(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
    raw = record.driver_connection  # the asyncpg connection
    if raw is not None and raw.is_closed():
        raise exc.DisconnectionError("the server closed this connection")


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    async with db.session() as session:
        yield session


# scope="function": the commit happens before the response is sent, so a failed commit is
# never answered with a 2xx.
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]


async def ensure_database(url: str) -> bool:
    """Create the database named in `url` if it does not exist. Returns True if created."""
    import asyncpg  # local: only needed at start-up

    parsed = make_url(async_url(url))
    name = parsed.database
    if not name:
        raise ValueError("DATABASE_URL names no database")
    conn = await asyncpg.connect(
        host=parsed.host or "localhost",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        database="postgres",
    )
    try:
        exists = await conn.fetchval("select 1 from pg_database where datname = $1", name)
        if exists:
            return False
        await conn.execute(f'create database "{name}"')
        return True
    except asyncpg.DuplicateDatabaseError:  # another service created it meanwhile
        return False
    finally:
        await conn.close()
