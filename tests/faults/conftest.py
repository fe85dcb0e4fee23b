"""The fault suite's fixtures: a RabbitMQ node and a Postgres cluster of the suite's own, and
one platform (wa_testing.platform) on them shared by every case."""

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from wa_testing.platform import Platform, running_platform
from wa_testing.servers import PrivatePostgres, PrivateRabbitMQ


@pytest.fixture(scope="package")
def private_broker() -> Iterator[PrivateRabbitMQ]:
    node = PrivateRabbitMQ().start()
    try:
        yield node
    finally:
        node.close()


@pytest.fixture(scope="package")
def private_postgres() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres().init()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.close()


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def shared_platform(
    private_broker: PrivateRabbitMQ, private_postgres: PrivatePostgres
) -> AsyncIterator[Platform]:
    """One platform for the whole suite (starting five services is most of a case's time)."""
    async with running_platform(private_broker, private_postgres) as platform:
        yield platform


@pytest_asyncio.fixture(loop_scope="package")
async def platform(shared_platform: Platform) -> Platform:
    await shared_platform.ensure_up()
    return shared_platform
