from collections.abc import AsyncIterator

import pytest

from responder.main import SERVICE_DIR
from responder.settings import ResponderSettings
from wa_testing.fakes import FakeLLM, serve_app
from wa_testing.plugin import TestKeyPair, migrated_database, service_settings


@pytest.fixture(scope="session")
def responder_database_url(database_url: str) -> str:
    return migrated_database(database_url, SERVICE_DIR)


@pytest.fixture
def responder_settings(
    responder_database_url: str, amqp_url: str, bus_prefix: str, test_keys: TestKeyPair
) -> ResponderSettings:
    return service_settings(
        ResponderSettings,
        database_url=responder_database_url,
        amqp_url=amqp_url,
        bus_prefix=bus_prefix,
        keys=test_keys,
        quiet_period_s=0,
        # The knowledge tenant is shared by the session's tests: the limits are tested on
        # tenants of their own (test_spending.py).
        preview_rate_per_min=0,
        ai_turns_per_min=0,
    )


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLLM]:
    llm = FakeLLM()
    async with serve_app(llm.app()) as url:
        llm.base_url = f"{url}/v1"
        try:
            yield llm
        finally:
            llm.release()  # a test that failed while it hung: let the server stop
