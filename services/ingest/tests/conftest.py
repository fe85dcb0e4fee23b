"""ingest under test: the real gateway in front (signed webhooks over HTTP), the real broker,
the run's Postgres, and a fake Graph API (a real HTTP server on 127.0.0.1)."""

import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from common.db import Database
from common.fakes import FakeGraphAPI
from common.testing import (
    TestKeyPair,
    bearer,
    eventually,
    messages_change,
    meta_json,
    meta_signature,
    migrated_database,
    notification,
    running_app,
    service_settings,
)
from gateway.main import create_app as create_gateway
from gateway.settings import GatewaySettings
from ingest.main import SERVICE_DIR
from ingest.main import create_app as create_ingest
from ingest.settings import IngestSettings

APP_SECRET = "ingest-test-app-secret"


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


class Platform:
    """The gateway and ingest running together; helpers that speak as Meta and as a business."""

    def __init__(
        self,
        gateway: httpx.AsyncClient,
        ingest: httpx.AsyncClient,
        keys: TestKeyPair,
        graph: FakeGraphAPI,
        db: Database,
    ) -> None:
        self.gateway = gateway
        self.ingest = ingest
        self.keys = keys
        self.graph = graph
        self.db = db

    def tenant(self, role: str = "owner") -> dict[str, str]:
        return bearer(self.keys.token(tenant_id=uuid.uuid4(), role=role))

    async def channel(
        self, headers: dict[str, str], *, token: str | None = None, pnid: str | None = None
    ) -> dict[str, Any]:
        """A sandbox channel, or with `token` a live one whose number Meta (the fake) knows."""
        body: dict[str, Any] = {"display_phone_number": "15550783881"}
        if token:
            number = self.graph.add_number(
                pnid or str(uuid.uuid4().int)[:15],
                waba_id=str(uuid.uuid4().int)[:15],
                token=token,
                display_phone_number="15550783881",
            )
            body |= {
                "phone_number_id": number.phone_number_id,
                "waba_id": number.waba_id,
                "access_token": token,
            }
        r = await self.ingest.post("/api/channels/whatsapp", json=body, headers=headers)
        assert r.status_code == 201, r.text
        # Connecting read the number from Meta; tests judge the calls that came after.
        self.graph.requests.clear()
        return dict(r.json())

    async def webhook(self, payload: dict[str, Any]) -> httpx.Response:
        body = meta_json(payload)
        return await self.gateway.post(
            "/api/webhook/whatsapp",
            content=body,
            headers={
                "X-Hub-Signature-256": meta_signature(body, APP_SECRET),
                "Content-Type": "application/json",
            },
        )

    async def inbound(
        self,
        pnid: str,
        messages: list[dict[str, Any]],
        contacts: list[dict[str, Any]] | None = None,
        statuses: list[dict[str, Any]] | None = None,
    ) -> None:
        change = messages_change(pnid, messages=messages, contacts=contacts, statuses=statuses)
        r = await self.webhook(notification(("WABA1", [change])))
        assert r.status_code == 200, r.text

    async def conversations(self, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
        r = await self.ingest.get("/api/conversations", params=params, headers=headers)
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    async def messages(self, headers: dict[str, str], conversation_id: str) -> list[dict[str, Any]]:
        r = await self.ingest.get(
            f"/api/conversations/{conversation_id}/messages",
            params={"limit": 200},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    async def wait_conversation(
        self, headers: dict[str, str], count: int = 1
    ) -> list[dict[str, Any]]:
        async def ready() -> list[dict[str, Any]] | None:
            items = await self.conversations(headers)
            return items if len(items) >= count else None

        result: list[dict[str, Any]] = await eventually(ready)
        return result

    async def wait_messages(
        self, headers: dict[str, str], conversation_id: str, count: int
    ) -> list[dict[str, Any]]:
        async def ready() -> list[dict[str, Any]] | None:
            items = await self.messages(headers, conversation_id)
            return items if len(items) >= count else None

        result: list[dict[str, Any]] = await eventually(ready)
        return result

    async def wait_status(
        self, headers: dict[str, str], conversation_id: str, message_id: str, status: str
    ) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            for m in await self.messages(headers, conversation_id):
                if m["id"] == message_id and m["status"] == status:
                    return m
            return None

        result: dict[str, Any] = await eventually(reached)
        return result

    async def sql(self, query: str, **params: Any) -> list[Any]:
        async with self.db.sessionmaker() as s:
            return list((await s.execute(text(query), params)).all())


@contextlib.asynccontextmanager
async def start_platform(
    ingest_settings: IngestSettings, test_keys: TestKeyPair, graph: FakeGraphAPI, db: Database
) -> AsyncIterator[Platform]:
    """The gateway and ingest running on these settings (a test may change them)."""
    gateway_settings = service_settings(
        GatewaySettings,
        database_url=ingest_settings.database_url,
        amqp_url=ingest_settings.amqp_url,
        bus_prefix=ingest_settings.bus_prefix,
        keys=test_keys,
        whatsapp_app_secret=APP_SECRET,
    )
    # ingest first: its queues must exist before the gateway publishes.
    async with (
        running_app(create_ingest(ingest_settings)) as ingest,
        running_app(create_gateway(gateway_settings)) as gateway,
    ):
        yield Platform(gateway, ingest, test_keys, graph, db)


@pytest.fixture
async def platform(
    ingest_settings: IngestSettings,
    test_keys: TestKeyPair,
    graph: FakeGraphAPI,
    db: Database,
) -> AsyncIterator[Platform]:
    async with start_platform(ingest_settings, test_keys, graph, db) as started:
        yield started


@pytest.fixture
def platform_with(
    ingest_settings: IngestSettings, test_keys: TestKeyPair, graph: FakeGraphAPI, db: Database
) -> Any:
    """`async with platform_with(graph_timeout_s=0.5) as platform`: changed settings."""

    def start(**overrides: Any) -> contextlib.AbstractAsyncContextManager[Platform]:
        settings = ingest_settings.model_copy(update=overrides)
        return start_platform(settings, test_keys, graph, db)

    return start
