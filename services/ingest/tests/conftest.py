"""ingest under test, alone: Meta's notifications arrive as the events the gateway publishes
(wa_testing.gateway_events, on the real broker), the run's Postgres, and a fake Graph API (a
real HTTP server on 127.0.0.1). Flows through the real gateway are in tests/e2e."""

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from common.bus import Bus
from common.db import Database
from ingest.main import SERVICE_DIR
from ingest.main import create_app as create_ingest
from ingest.settings import IngestSettings
from wa_testing.fakes import FakeGraphAPI
from wa_testing.inbox import Inbox
from wa_testing.plugin import TestKeyPair, migrated_database, running_app, service_settings


@pytest.fixture(scope="session")
def ingest_database_url(database_url: str) -> str:
    return migrated_database(database_url, SERVICE_DIR)


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraphAPI]:
    async with FakeGraphAPI().running() as fake:
        yield fake


@pytest.fixture
def ingest_settings(
    ingest_database_url: str,
    amqp_url: str,
    bus_prefix: str,
    test_keys: TestKeyPair,
    graph: FakeGraphAPI,
) -> IngestSettings:
    return service_settings(
        IngestSettings,
        database_url=ingest_database_url,
        amqp_url=amqp_url,
        bus_prefix=bus_prefix,
        keys=test_keys,
        whatsapp_graph_url=graph.base_url,
        graph_timeout_s=5.0,
        sse_heartbeat_s=0.5,
    )


@pytest.fixture
async def db(ingest_database_url: str) -> AsyncIterator[Database]:
    database = Database(ingest_database_url, pool_size=2)
    yield database
    await database.dispose()


def now_ts() -> int:
    return int(time.time())


# What the tests call `platform`: ingest, with Meta's notifications arriving as the gateway's
# events on the bus (the gateway itself is never imported here: tests/e2e runs the two).
Platform = Inbox


@contextlib.asynccontextmanager
async def start_platform(
    ingest_settings: IngestSettings,
    test_keys: TestKeyPair,
    graph: FakeGraphAPI,
    db: Database,
    bus: Bus,
) -> AsyncIterator[Platform]:
    """ingest running on these settings (a test may change them)."""
    # ingest starts first: its queues must exist before a mandatory publish reaches them.
    async with running_app(create_ingest(ingest_settings)) as ingest:
        yield Platform(ingest, test_keys, graph, db, bus=bus)


@pytest.fixture
async def platform(
    ingest_settings: IngestSettings,
    test_keys: TestKeyPair,
    graph: FakeGraphAPI,
    db: Database,
    bus: Bus,
) -> AsyncIterator[Platform]:
    async with start_platform(ingest_settings, test_keys, graph, db, bus) as started:
        yield started


@pytest.fixture
def platform_with(
    ingest_settings: IngestSettings,
    test_keys: TestKeyPair,
    graph: FakeGraphAPI,
    db: Database,
    bus: Bus,
) -> Any:
    """`async with platform_with(graph_timeout_s=0.5) as platform`: changed settings."""

    def start(**overrides: Any) -> contextlib.AbstractAsyncContextManager[Platform]:
        settings = ingest_settings.model_copy(update=overrides)
        return start_platform(settings, test_keys, graph, db, bus)

    return start
