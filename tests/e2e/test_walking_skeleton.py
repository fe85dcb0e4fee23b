"""The thin flow through real processes: Meta → gateway (HTTP) → RabbitMQ → ingest → Postgres."""

import asyncio
import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from common.db import Database
from ingest.main import SERVICE_DIR as INGEST_DIR
from ingest.main import consumer_names
from ingest.models import Message
from wa_testing.plugin import (
    ServiceProcess,
    TestKeyPair,
    bearer,
    eventually,
    messages_change,
    meta_json,
    meta_signature,
    migrated_database,
    notification,
    remove_topology,
    text_message,
)

pytestmark = pytest.mark.e2e

APP_SECRET = "e2e-app-secret"
VERIFY_TOKEN = "e2e-verify-token"


@pytest.fixture
def platform(
    database_url: str, amqp_url: str, bus_prefix: str, test_keys: TestKeyPair
) -> Iterator[dict[str, str]]:
    """ingest and gateway as real uvicorn processes sharing the test's broker prefix."""
    migrated_database(database_url, INGEST_DIR)
    env = {
        "ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "AMQP_URL": amqp_url,
        "BUS_PREFIX": bus_prefix,
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        "OUTBOX_POLL_INTERVAL_S": "0.1",
        "AUTH_JWKS_JSON": json.dumps(test_keys.jwks()),
    }
    # ingest first: its queue must exist before the gateway publishes (else 503, Meta retries).
    ingest = ServiceProcess("ingest.main:create_app", env).start()
    gateway = ServiceProcess("gateway.main:create_app", env).start()
    try:
        yield {"gateway": gateway.url, "ingest": ingest.url}
    finally:
        gateway.stop()
        ingest.stop()
        asyncio.run(remove_topology(amqp_url, bus_prefix, set(consumer_names())))


async def test_a_signed_webhook_is_stored_once_through_real_http_broker_and_database(
    platform: dict[str, str], database_url: str, test_keys: TestKeyPair
) -> None:
    wamid = f"wamid.{uuid.uuid4().hex}"
    owner = bearer(test_keys.token(tenant_id=uuid.uuid4(), role="owner"))
    async with httpx.AsyncClient(base_url=platform["ingest"], timeout=10) as client:
        # A sandbox number (no token): the platform names it; Meta-shaped webhooks for it route.
        connected = await client.post("/api/channels/whatsapp", json={}, headers=owner)
        assert connected.status_code == 201, connected.text
    pnid = connected.json()["phone_number_id"]
    body = meta_json(
        notification(
            (
                "WABA1",
                [
                    messages_change(
                        pnid,
                        contacts=[{"profile": {"name": "Inês"}, "wa_id": "351912345678"}],
                        messages=[
                            text_message(wamid, "351912345678", "Olá! Têm entregas ao domingo? 🚚")
                        ],
                    )
                ],
            )
        )
    )
    headers = {
        "X-Hub-Signature-256": meta_signature(body, APP_SECRET),
        "Content-Type": "application/json",
    }
    async with httpx.AsyncClient(base_url=platform["gateway"], timeout=10) as client:
        handshake = await client.get(
            "/api/webhook/whatsapp",
            params={
                "hub.mode": "subscribe",
                "hub.verify_token": VERIFY_TOKEN,
                "hub.challenge": "42",
            },
        )
        assert (handshake.status_code, handshake.text) == (200, "42")

        first = await client.post("/api/webhook/whatsapp", content=body, headers=headers)
        assert first.status_code == 200, first.text
        # Meta redelivers the same notification: still one stored message.
        again = await client.post("/api/webhook/whatsapp", content=body, headers=headers)
        assert again.status_code == 200

        bad = await client.post(
            "/api/webhook/whatsapp",
            content=body,
            headers={**headers, "X-Hub-Signature-256": "sha256=00"},
        )
        assert bad.status_code == 401

    db = Database(database_url, pool_size=1)
    try:

        async def stored() -> list[Message]:
            async with db.sessionmaker() as s:
                return list((await s.scalars(select(Message).where(Message.wamid == wamid))).all())

        [message] = await eventually(stored, timeout=15)
        await asyncio.sleep(0.5)
        assert len(await stored()) == 1
        assert message.text == "Olá! Têm entregas ao domingo? 🚚"
        assert message.direction == "inbound"
    finally:
        await db.dispose()

    async with httpx.AsyncClient(timeout=5) as client:
        for url in platform.values():
            assert (await client.get(f"{url}/health")).status_code == 200
    async with httpx.AsyncClient(base_url=platform["ingest"], timeout=5) as client:
        [conversation] = (await client.get("/api/conversations", headers=owner)).json()["items"]
        assert conversation["contact"]["wa_id"] == "351912345678"
        assert conversation["contact"]["name"] == "Inês"
