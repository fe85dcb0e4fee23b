import pytest

from common.testing import TestKeyPair, migrated_database, service_settings
from ingest.main import SERVICE_DIR
from ingest.settings import IngestSettings


@pytest.fixture(scope="session")
def ingest_database_url(database_url: str) -> str:
    return migrated_database(database_url, SERVICE_DIR)


@pytest.fixture
def ingest_settings(
    ingest_database_url: str, amqp_url: str, bus_prefix: str, test_keys: TestKeyPair
) -> IngestSettings:
    return service_settings(
        IngestSettings,
        database_url=ingest_database_url,
        amqp_url=amqp_url,
        bus_prefix=bus_prefix,
        keys=test_keys,
    )
