"""Models and migrations describe the same tables.

Each service's schema is built by its Alembic migrations alone, then compared with what its
SQLAlchemy models declare (Alembic's autogenerate comparison): a column, index, constraint
or table that one has and the other lacks fails here, instead of at the first query that
touches it in production.
"""

import asyncio
import importlib
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from wa_testing.plugin import migrated_database

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ["auth", "ingest", "knowledge", "responder"]


def _differences(connection: Any, metadata: MetaData) -> list[Any]:
    schema = metadata.schema
    context = MigrationContext.configure(
        connection,
        opts={
            "include_schemas": True,
            # Only the service's own schema; Alembic's version table is not a model.
            "include_name": lambda name, type_, _: type_ != "schema" or name == schema,
            "include_object": lambda obj, name, type_, reflected, compare_to: (
                not (type_ == "table" and name == "alembic_version")
            ),
            "compare_type": True,
            "version_table_schema": schema,
        },
    )
    return compare_metadata(context, metadata)


@pytest.mark.parametrize("service", SERVICES)
async def test_the_migrations_build_what_the_models_declare(
    service: str, database_url: str
) -> None:
    models = importlib.import_module(f"{service}.models")
    metadata: MetaData = models.metadata
    # Alembic runs its own event loop: in a thread, as the services do at start-up.
    await asyncio.to_thread(migrated_database, database_url, ROOT / "services" / service)
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(_differences, metadata)
    finally:
        await engine.dispose()
    assert differences == [], f"{service}: models and migrations differ: {differences}"
