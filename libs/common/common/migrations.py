"""Alembic, once per service: each in its own schema, version table included.

A service's `migrations/env.py` is two lines: `run_env(target_metadata)`. Start-up calls
`upgrade(service_dir, url)`; replicas starting together serialise on an advisory lock.
"""

import asyncio
import zlib
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from common.db import async_url


def alembic_config(service_dir: Path, url: str) -> Config:
    cfg = Config(str(service_dir / "alembic.ini"))
    cfg.set_main_option("script_location", str(service_dir / "migrations"))
    # Passed as an attribute, not an option: configparser would choke on '%' in a password.
    cfg.attributes["database_url"] = url
    return cfg


def upgrade(service_dir: Path, url: str, revision: str = "head") -> None:
    """Migrate the service's schema to `revision` (blocking: call it in a thread)."""
    command.upgrade(alembic_config(service_dir, url), revision)


def run_env(target_metadata: MetaData) -> None:
    """Body of every service's `migrations/env.py` (online mode only)."""
    schema = target_metadata.schema
    if not schema:
        raise ValueError("a service's MetaData must name its schema")
    url = context.config.attributes.get("database_url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database URL: pass it through alembic_config()")

    def migrate(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_name=lambda name, type_, _: type_ != "schema" or name == schema,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(async_url(url), poolclass=NullPool, hide_parameters=True)
        async with engine.connect() as conn:
            # One migrator at a time per schema, whatever the number of replicas.
            await conn.execute(
                text("select pg_advisory_lock(:k)"), {"k": zlib.crc32(schema.encode())}
            )
            await conn.execute(text(f'create schema if not exists "{schema}"'))
            await conn.commit()
            await conn.run_sync(migrate)
            await conn.commit()
            await conn.execute(
                text("select pg_advisory_unlock(:k)"), {"k": zlib.crc32(schema.encode())}
            )
        await engine.dispose()

    asyncio.run(run())


def create_messaging_tables(schema: str) -> None:
    """In a first migration: the service's `outbox` and `processed_events` tables as they were
    when the first migrations were written. Frozen DDL, not the live definitions
    (common.outbox, common.idempotency): a later change to those is a new migration of each
    service, and never rewrites what an old one built. Never edit this function."""
    import sqlalchemy as sa
    from alembic import op
    from sqlalchemy.dialects.postgresql import JSONB, UUID

    op.create_table(
        "outbox",
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("body", JSONB(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text()),
        sa.PrimaryKeyConstraint("event_id", name="pk_outbox"),
        schema=schema,
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["created_at"],
        schema=schema,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(200), nullable=False),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_processed_events"),
        schema=schema,
    )


def drop_messaging_tables(schema: str) -> None:
    from alembic import op

    op.drop_table("processed_events", schema=schema)
    op.drop_table("outbox", schema=schema)
