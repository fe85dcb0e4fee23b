"""Meta → gateway (HTTP, signed) → RabbitMQ → ingest → Postgres, both services in-process: what
the two do together. A batch of entries split by the gateway and stored by ingest, NUL
characters the gateway makes storable, Meta's template status webhook reaching ingest. (Moved
from ingest's suite, which runs ingest alone: services/ingest/tests/conftest.py.)"""

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from common.db import Database
from gateway.main import create_app as create_gateway
from gateway.settings import GatewaySettings
from ingest.main import SERVICE_DIR
from ingest.main import create_app as create_ingest
from ingest.settings import IngestSettings
from wa_testing.fakes import FakeGraphAPI, FakeTemplate
from wa_testing.inbox import Inbox
from wa_testing.plugin import (
    TestKeyPair,
    eventually,
    messages_change,
    migrated_database,
    notification,
    running_app,
    service_settings,
    text_message,
)

pytestmark = pytest.mark.e2e

APP_SECRET = "ingest-test-app-secret"
TOKEN = "EAAG-test-token"


@pytest.fixture(scope="session")
def ingest_database_url(database_url: str) -> str:
    # Outside any event loop: migrating runs one of its own.
    return migrated_database(database_url, SERVICE_DIR)


@pytest.fixture
async def platform(
    ingest_database_url: str, amqp_url: str, bus_prefix: str, test_keys: TestKeyPair
) -> AsyncIterator[Inbox]:
    """The gateway and ingest running together; helpers that speak as Meta and as a business."""
    shared = {
        "database_url": ingest_database_url,
        "amqp_url": amqp_url,
        "bus_prefix": bus_prefix,
        "keys": test_keys,
    }
    async with FakeGraphAPI().running() as graph:
        ingest_settings = service_settings(
            IngestSettings,
            **shared,
            whatsapp_graph_url=graph.base_url,
            graph_timeout_s=5.0,
            sse_heartbeat_s=0.5,
        )
        gateway_settings = service_settings(
            GatewaySettings, **shared, whatsapp_app_secret=APP_SECRET
        )
        db = Database(ingest_database_url, pool_size=2)
        try:
            # ingest first: its queues must exist before the gateway publishes.
            async with (
                running_app(create_ingest(ingest_settings)) as ingest,
                running_app(create_gateway(gateway_settings)) as gateway,
            ):
                yield Inbox(ingest, test_keys, graph, db, gateway=gateway, app_secret=APP_SECRET)
        finally:
            await db.dispose()


def now_ts() -> int:
    return int(time.time())


def stamped(message: dict[str, Any], ts: int) -> dict[str, Any]:
    return {**message, "timestamp": str(ts)}


async def live_channel(platform: Any, owner: dict[str, str], *templates: dict[str, Any]) -> Any:
    """A live channel whose account has these templates at Meta before it connects."""
    number = platform.graph.add_number(
        str(uuid.uuid4().int)[:15], waba_id=str(uuid.uuid4().int)[:15], token=TOKEN
    )
    for t in templates:
        platform.graph.add_template(number.waba_id, **t)
    r = await platform.ingest.post(
        "/api/channels/whatsapp",
        json={
            "phone_number_id": number.phone_number_id,
            "waba_id": number.waba_id,
            "access_token": TOKEN,
        },
        headers=owner,
    )
    assert r.status_code == 201, r.text
    platform.graph.requests.clear()
    return r.json(), number.waba_id


async def templates_of(platform: Any, owner: dict[str, str], channel_id: str) -> list[Any]:
    r = await platform.ingest.get(f"/api/channels/{channel_id}/templates", headers=owner)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_a_batch_of_entries_customers_messages_and_statuses(platform: Any) -> None:
    owner = platform.tenant()
    a = await platform.channel(owner)
    b = await platform.channel(owner)
    ts = now_ts()
    tag = uuid.uuid4().hex[:6]
    payload = notification(
        (
            "WABA1",
            [
                messages_change(
                    a["phone_number_id"],
                    # Contacts in another order than the messages: matched by wa_id.
                    contacts=[
                        {"profile": {"name": "Bob"}, "wa_id": "222"},
                        {"profile": {"name": "Ann"}, "wa_id": "111"},
                    ],
                    messages=[
                        text_message(f"w.{tag}.a1", "111", "Ann 1", timestamp=ts),
                        text_message(f"w.{tag}.b1", "222", "Bob 1", timestamp=ts + 1),
                        text_message(f"w.{tag}.a2", "111", "Ann 2", timestamp=ts + 2),
                    ],
                    statuses=[
                        {"id": f"w.{tag}.unknown", "status": "delivered", "timestamp": str(ts)}
                    ],
                ),
            ],
        ),
        (
            "WABA2",
            [
                messages_change(
                    b["phone_number_id"],
                    contacts=[{"profile": {"name": "Ann B"}, "wa_id": "111"}],
                    messages=[text_message(f"w.{tag}.c1", "111", "on b", timestamp=ts)],
                )
            ],
        ),
    )
    r = await platform.webhook(payload)
    assert r.status_code == 200
    conversations = await platform.wait_conversation(owner, 3)
    unread = {
        (c["channel_id"] == a["id"], c["contact"]["wa_id"]): c["unread_count"]
        for c in conversations
    }
    # Ann (111) has one conversation per channel, Bob (222) one.
    assert unread == {(True, "111"): 2, (True, "222"): 1, (False, "111"): 1}
    ann_on_a = next(
        c for c in conversations if c["channel_id"] == a["id"] and c["contact"]["wa_id"] == "111"
    )
    texts = [m["text"] for m in await platform.wait_messages(owner, ann_on_a["id"], 2)]
    assert texts == ["Ann 1", "Ann 2"]
    contacts = (await platform.ingest.get("/api/contacts", headers=owner)).json()["items"]
    assert sorted((c["wa_id"], c["conversation_count"]) for c in contacts) == [
        ("111", 2),
        ("222", 1),
    ]
    # The status of a wamid nobody stored yet is kept for later.
    pending = await platform.sql(
        "select status from ingest.pending_statuses where wamid = :w", w=f"w.{tag}.unknown"
    )
    assert [p.status for p in pending] == ["delivered"]


async def test_a_nul_in_a_customers_text_or_name_is_stored_as_a_replacement_character(
    platform: Any,
) -> None:
    """JSON may escape NUL (`\\u0000`), Postgres cannot store it: the message must not fail at
    every retry and end dead-lettered, but arrive with U+FFFD in its place."""
    owner = platform.tenant()
    channel = await platform.channel(owner)
    sender = "351910000000"
    message = stamped(
        {
            "from": sender,
            "id": f"wamid.{uuid.uuid4().hex}",
            "type": "text",
            "text": {"body": "Olá\x00mundo"},
        },
        now_ts(),
    )
    contacts = [{"profile": {"name": "Ana\x00"}, "wa_id": sender}]
    await platform.inbound(channel["phone_number_id"], [message], contacts)
    [conversation] = await platform.wait_conversation(owner)
    [stored] = await platform.wait_messages(owner, conversation["id"], 1)
    assert stored["text"] == "Olá\ufffdmundo"
    assert conversation["contact"]["name"] == "Ana\ufffd"


def status_change(template: FakeTemplate, event: str, **extra: Any) -> dict[str, Any]:
    return {
        "field": "message_template_status_update",
        "value": {
            "event": event,
            "message_template_id": int(template.id),
            "message_template_name": template.name,
            "message_template_language": template.language,
            "reason": extra.get("reason", "NONE"),
        },
    }


async def test_meta_status_webhook_updates_the_template_and_an_unknown_one_syncs(
    platform: Any,
) -> None:
    owner = platform.tenant()
    channel, waba = await live_channel(platform, owner, {"name": "order_update"})
    [template] = platform.graph.templates
    r = await platform.webhook(notification((waba, [status_change(template, "PAUSED")])))
    assert r.status_code == 200, r.text

    async def paused() -> bool:
        items = await templates_of(platform, owner, channel["id"])
        return items[0]["status"] == "PAUSED"

    await eventually(paused)

    # A template created at Meta after the last sync: its first status makes the channel sync.
    late = platform.graph.add_template(waba, "welcome_back", status="APPROVED")
    r = await platform.webhook(notification((waba, [status_change(late, "APPROVED")])))
    assert r.status_code == 200

    async def synced() -> list[str]:
        names = [t["name"] for t in await templates_of(platform, owner, channel["id"])]
        return names if "welcome_back" in names else []

    assert await eventually(synced) == ["order_update", "welcome_back"]
