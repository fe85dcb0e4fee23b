"""The gateway over HTTP, publishing to the real broker."""

import asyncio
import json
import logging
from typing import Any

import pytest
import yarl
from fastapi import FastAPI
from pydantic import SecretStr

from common.bus import Bus, Subscription
from common.events import (
    Envelope,
    WhatsAppMessageReceivedV1,
    WhatsAppStatusUpdatedV1,
    WhatsAppWebhookUnhandledV1,
    whatsapp_message_event_id,
)
from gateway.main import create_app
from gateway.settings import GatewaySettings
from wa_testing.fakes import inbound_examples
from wa_testing.plugin import (
    TcpProxy,
    TestKeyPair,
    eventually,
    messages_change,
    meta_json,
    meta_signature,
    notification,
    running_app,
    service_settings,
    text_message,
)

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"


@pytest.fixture
def gateway_settings(
    database_url: str, amqp_url: str, bus_prefix: str, test_keys: TestKeyPair
) -> GatewaySettings:
    return service_settings(
        GatewaySettings,
        database_url=database_url,
        amqp_url=amqp_url,
        bus_prefix=bus_prefix,
        keys=test_keys,
        whatsapp_app_secret=APP_SECRET,
        whatsapp_verify_token=VERIFY_TOKEN,
        webhook_max_bytes=64 * 1024,
    )


@pytest.fixture
def gateway_app(gateway_settings: GatewaySettings) -> FastAPI:
    return create_app(gateway_settings)


PNID = "106540352242922"
ALL_TYPES = (
    "whatsapp.message.received.v1",
    "whatsapp.status.updated.v1",
    "whatsapp.webhook.unhandled.v1",
)


async def listen(bus: Bus) -> list[Envelope]:
    received: list[Envelope] = []

    async def handler(event: Envelope) -> None:
        received.append(event)

    await bus.subscribe(Subscription("gateway-test.listener", ALL_TYPES, handler))
    return received


def signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    return {"X-Hub-Signature-256": meta_signature(body, secret), "Content-Type": "application/json"}


UNICODE_TEXT = "J'ai mangé des pâtes 🍝 — see https://shop.example/a/b or mail me@x.io"


def unicode_notification() -> dict[str, Any]:
    return notification(
        (
            "WABA1",
            [
                messages_change(
                    PNID,
                    contacts=[{"profile": {"name": "Zoë Ünal"}, "wa_id": "16505551234"}],
                    messages=[text_message("wamid.UNI", "16505551234", UNICODE_TEXT)],
                )
            ],
        )
    )


# --- verification handshake -----------------------------------------------------------------


async def test_the_handshake_echoes_the_challenge_as_text(gateway_app: FastAPI) -> None:
    async with running_app(gateway_app) as client:
        r = await client.get(
            "/api/webhook/whatsapp",
            params={
                "hub.mode": "subscribe",
                "hub.verify_token": VERIFY_TOKEN,
                "hub.challenge": "1158201444",
            },
        )
        assert r.status_code == 200
        assert r.text == "1158201444"
        assert r.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {},
    ],
)
async def test_the_handshake_refuses_anything_else(
    gateway_app: FastAPI, params: dict[str, str]
) -> None:
    async with running_app(gateway_app) as client:
        r = await client.get("/api/webhook/whatsapp", params=params)
        assert r.status_code == 403
        assert "1" not in r.text


# --- notifications ----------------------------------------------------------------------------


async def test_a_signed_unicode_body_is_accepted_and_published(
    gateway_app: FastAPI, bus: Bus
) -> None:
    received = await listen(bus)
    body = meta_json(unicode_notification())
    assert b"\\u00e9" in body and b"\\/" in body and b"\\u0040" in body  # Meta's escaping
    async with running_app(gateway_app) as client:
        r = await client.post("/api/webhook/whatsapp", content=body, headers=signed(body))
        assert r.status_code == 200, r.text
    await eventually(lambda: asyncio.sleep(0, received))
    [event] = received
    assert isinstance(event, WhatsAppMessageReceivedV1)
    assert event.event_id == whatsapp_message_event_id("wamid.UNI")
    assert event.payload.message["text"]["body"] == UNICODE_TEXT
    assert event.payload.contact is not None
    assert event.payload.contact.name == "Zoë Ünal"
    assert event.payload.phone_number_id == PNID
    assert event.payload.waba_id == "WABA1"


async def test_a_signature_over_re_serialised_json_is_refused(
    gateway_app: FastAPI, bus: Bus
) -> None:
    received = await listen(bus)
    payload = unicode_notification()
    body = meta_json(payload)
    naive = json.dumps(payload).encode()  # what a re-serialising verifier would hash
    async with running_app(gateway_app) as client:
        r = await client.post("/api/webhook/whatsapp", content=body, headers=signed(naive))
        assert r.status_code == 401
    await asyncio.sleep(0.2)
    assert received == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-Hub-Signature-256": "deadbeef"},
        {"X-Hub-Signature-256": meta_signature(b"other body", APP_SECRET)},
    ],
)
async def test_missing_or_wrong_signatures_get_401_and_publish_nothing(
    gateway_app: FastAPI, bus: Bus, headers: dict[str, str]
) -> None:
    received = await listen(bus)
    body = meta_json(unicode_notification())
    async with running_app(gateway_app) as client:
        r = await client.post("/api/webhook/whatsapp", content=body, headers=headers)
        assert r.status_code == 401
        assert r.json() == {"detail": "missing or invalid X-Hub-Signature-256"}
    await asyncio.sleep(0.2)
    assert received == []


async def test_every_entry_change_message_and_status_becomes_an_event(
    gateway_app: FastAPI, bus: Bus
) -> None:
    received = await listen(bus)
    payload = notification(
        (
            "WABA1",
            [
                messages_change(
                    PNID,
                    # Contacts deliberately in another order than the messages.
                    contacts=[
                        {"profile": {"name": "Bob"}, "wa_id": "222"},
                        {"profile": {"name": "Ann"}, "wa_id": "111"},
                    ],
                    messages=[
                        text_message("wamid.A1", "111", "hi from Ann"),
                        text_message("wamid.B1", "222", "hi from Bob"),
                        text_message("wamid.A2", "111", "Ann again"),
                    ],
                    statuses=[
                        {
                            "id": "wamid.OUT1",
                            "status": "delivered",
                            "timestamp": "1767268801",
                            "recipient_id": "111",
                        }
                    ],
                ),
                {
                    "field": "message_template_status_update",
                    "value": {"event": "APPROVED", "message_template_id": 1},
                },
            ],
        ),
        (
            "WABA2",
            [
                messages_change(
                    "999000",
                    statuses=[
                        {
                            "id": "wamid.OUT2",
                            "status": "read",
                            "timestamp": "1767268802",
                            "recipient_id": "333",
                        }
                    ],
                )
            ],
        ),
    )
    body = meta_json(payload)
    async with running_app(gateway_app) as client:
        r = await client.post("/api/webhook/whatsapp", content=body, headers=signed(body))
        assert r.status_code == 200
        assert r.json()["events"] == 6
    await eventually(lambda: asyncio.sleep(0, len(received) >= 6))
    messages = {e.payload.wamid: e for e in received if isinstance(e, WhatsAppMessageReceivedV1)}
    statuses = {e.payload.wamid: e for e in received if isinstance(e, WhatsAppStatusUpdatedV1)}
    other = [e for e in received if isinstance(e, WhatsAppWebhookUnhandledV1)]
    assert {w: m.payload.contact.name for w, m in messages.items() if m.payload.contact} == {
        "wamid.A1": "Ann",
        "wamid.B1": "Bob",
        "wamid.A2": "Ann",
    }
    assert statuses["wamid.OUT1"].payload.status == "delivered"
    assert statuses["wamid.OUT2"].payload.phone_number_id == "999000"
    assert [o.payload.field for o in other] == ["message_template_status_update"]


async def test_a_redelivered_webhook_yields_the_same_event_ids(
    gateway_app: FastAPI, bus: Bus
) -> None:
    received = await listen(bus)
    body = meta_json(unicode_notification())
    async with running_app(gateway_app) as client:
        for _ in range(2):
            r = await client.post("/api/webhook/whatsapp", content=body, headers=signed(body))
            assert r.status_code == 200
    await eventually(lambda: asyncio.sleep(0, len(received) == 2))
    assert received[0].event_id == received[1].event_id


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{not json", "body is not valid JSON"),
        (b'{"object":"page","entry":[]}', "not a whatsapp_business_account notification"),
        (b'{"object":"whatsapp_business_account","entry":{}}', "'entry' must be a list"),
        (b"[" * 5000 + b"]" * 5000, "body is not valid JSON"),
        (b"[1, 2]", "not a whatsapp_business_account notification"),
    ],
)
async def test_a_body_that_is_not_a_notification_gets_400(
    gateway_app: FastAPI, body: bytes, detail: str
) -> None:
    async with running_app(gateway_app) as client:
        r = await client.post("/api/webhook/whatsapp", content=body, headers=signed(body))
        assert r.status_code == 400
        assert r.json() == {"detail": detail}


async def test_a_body_beyond_the_cap_gets_413(gateway_app: FastAPI) -> None:
    body = b'{"object":"whatsapp_business_account","pad":"' + b"x" * 70_000 + b'"}'
    async with running_app(gateway_app) as client:
        r = await client.post("/api/webhook/whatsapp", content=body, headers=signed(body))
        assert r.status_code == 413


async def test_nobody_to_receive_messages_is_a_503_so_meta_retries(gateway_app: FastAPI) -> None:
    body = meta_json(unicode_notification())  # no consumer queue is bound under this prefix
    async with running_app(gateway_app) as client:
        r = await client.post("/api/webhook/whatsapp", content=body, headers=signed(body))
        assert r.status_code == 503


async def test_an_unreachable_broker_is_a_503_so_meta_retries(
    gateway_settings: GatewaySettings, bus: Bus, amqp_url: str
) -> None:
    received = await listen(bus)
    target = yarl.URL(amqp_url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5672)
    await proxy.start()
    settings = gateway_settings.model_copy(update={"amqp_url": proxy.url_for(amqp_url)})
    body = meta_json(unicode_notification())
    async with running_app(create_app(settings)) as client:
        await proxy.stop()
        r = await client.post("/api/webhook/whatsapp", content=body, headers=signed(body))
        assert r.status_code == 503
        assert r.json() == {"detail": "event broker unavailable; retry later"}

        async def unhealthy() -> bool:
            return (await client.get("/health")).status_code == 503

        await eventually(unhealthy)
        await proxy.start()

        async def accepted() -> bool:
            retry = await client.post("/api/webhook/whatsapp", content=body, headers=signed(body))
            return retry.status_code == 200

        await eventually(accepted, timeout=20, interval=0.3)
    await eventually(lambda: asyncio.sleep(0, received))
    await proxy.stop()


def test_openapi_documents_the_webhook(gateway_app: FastAPI) -> None:
    paths = gateway_app.openapi()["paths"]
    assert set(paths["/api/webhook/whatsapp"]) == {"get", "post"}
    assert "/health" in paths


async def test_the_gateway_health_needs_only_the_broker(gateway_app: FastAPI) -> None:
    async with running_app(gateway_app) as client:
        assert (await client.get("/health")).json()["checks"] == {"broker": "ok"}


# --- every inbound type, rotation, limits, bad items ---------------------------------------------


async def test_every_inbound_type_becomes_an_event_with_the_raw_object(
    gateway_app: FastAPI, bus: Bus
) -> None:
    received = await listen(bus)
    examples = inbound_examples("16505551234", prefix="wamid.G")
    # A system message has no contact; the rest share one.
    payload = notification(
        (
            "WABA1",
            [
                messages_change(
                    PNID,
                    contacts=[
                        {
                            "profile": {"name": "Zoë", "username": "zoe"},
                            "wa_id": "16505551234",
                            "user_id": "US.1349",
                        }
                    ],
                    messages=list(examples.values()),
                )
            ],
        )
    )
    body = meta_json(payload)
    async with running_app(gateway_app) as client:
        r = await client.post("/api/webhook/whatsapp", content=body, headers=signed(body))
        assert r.status_code == 200, r.text
        assert r.json()["events"] == len(examples)
    await eventually(lambda: asyncio.sleep(0, len(received) >= len(examples)))
    events = {e.payload.wamid: e for e in received if isinstance(e, WhatsAppMessageReceivedV1)}
    assert len(events) == len(examples)
    for name, message in examples.items():
        event = events[f"wamid.G.{name}"]
        assert event.payload.message == message, name  # kept whole, as Meta sent it
        expected = "unknown" if name == "future" else message["type"]
        assert event.payload.type == expected, name
    contact = events["wamid.G.text"].payload.contact
    assert contact is not None
    assert (contact.wa_id, contact.user_id, contact.name, contact.username) == (
        "16505551234",
        "US.1349",
        "Zoë",
        "zoe",
    )


async def test_a_rotated_app_secret_list_accepts_either_secret(
    gateway_settings: GatewaySettings, bus: Bus
) -> None:
    received = await listen(bus)
    settings = gateway_settings.model_copy(
        update={"whatsapp_app_secret": SecretStr(f"new-secret, {APP_SECRET}")}
    )
    body = meta_json(unicode_notification())
    async with running_app(create_app(settings)) as client:
        for secret in ("new-secret", APP_SECRET):
            r = await client.post(
                "/api/webhook/whatsapp", content=body, headers=signed(body, secret)
            )
            assert r.status_code == 200
        r = await client.post("/api/webhook/whatsapp", content=body, headers=signed(body, "old"))
        assert r.status_code == 401
    await eventually(lambda: asyncio.sleep(0, len(received) == 2))


async def test_json_nested_beyond_the_depth_limit_gets_400(gateway_app: FastAPI) -> None:
    body = b'{"object":"whatsapp_business_account","entry":' + b"[" * 80 + b"]" * 80 + b"}"
    async with running_app(gateway_app) as client:
        r = await client.post("/api/webhook/whatsapp", content=body, headers=signed(body))
        assert r.status_code == 400
        assert r.json() == {"detail": "JSON nested deeper than 64 levels"}


async def test_bad_items_and_errors_go_out_as_unhandled_and_never_fail_the_batch(
    gateway_app: FastAPI, bus: Bus
) -> None:
    received = await listen(bus)
    value_errors = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "1555", "phone_number_id": PNID},
        "errors": [{"code": 131000, "title": "Unsupported webhook payload"}],
    }
    payload = notification(
        (
            "WABA1",
            [
                messages_change(
                    PNID,
                    messages=[
                        {"from": "111", "type": "text", "text": {"body": "no id"}},
                        text_message("wamid.GOOD", "111", "fine"),
                    ],
                    statuses=[{"status": "read"}],
                ),
                {"field": "messages", "value": value_errors},
                {"field": "messages", "value": {"messages": []}},
                {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}},
            ],
        )
    )
    body = meta_json(payload)
    async with running_app(gateway_app) as client:
        r = await client.post("/api/webhook/whatsapp", content=body, headers=signed(body))
        assert r.status_code == 200
    await eventually(lambda: asyncio.sleep(0, len(received) >= 6))
    good = [e for e in received if isinstance(e, WhatsAppMessageReceivedV1)]
    assert [e.payload.wamid for e in good] == ["wamid.GOOD"]
    reasons = sorted(
        e.payload.reason for e in received if isinstance(e, WhatsAppWebhookUnhandledV1)
    )
    assert reasons == [
        "a message without an id",
        "a status without an id or status",
        "field not handled",
        "no metadata.phone_number_id",
        "value.errors",
    ]


async def test_info_logs_carry_no_message_body_or_secret(
    gateway_app: FastAPI, bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    await listen(bus)
    body = meta_json(unicode_notification())
    with caplog.at_level(logging.INFO):
        async with running_app(gateway_app) as client:
            r = await client.post("/api/webhook/whatsapp", content=body, headers=signed(body))
            assert r.status_code == 200
    logged = caplog.text
    assert "webhook.accepted" in logged
    assert "mangé" not in logged and "J'ai" not in logged and APP_SECRET not in logged


async def test_an_odd_item_in_a_signed_webhook_is_skipped_and_the_rest_published(
    gateway_app: FastAPI, bus: Bus
) -> None:
    """Issue 12, finding 15: a timestamp beyond range or a non-object `profile` was a 500
    for the whole batch, so Meta retried it forever and the good message never arrived."""
    received = await listen(bus)
    payload = notification(
        (
            "WABA1",
            [
                messages_change(
                    PNID,
                    contacts=[{"wa_id": "222", "profile": ["not", "an", "object"]}],
                    messages=[
                        text_message("wamid.FAR", "111", "x", timestamp=10**20),
                        text_message("wamid.PROFILE", "222", "odd profile, fine message"),
                        text_message("wamid.GOOD", "111", "fine"),
                    ],
                )
            ],
        )
    )
    body = meta_json(payload)
    async with running_app(gateway_app) as client:
        r = await client.post("/api/webhook/whatsapp", content=body, headers=signed(body))
        assert r.status_code == 200, r.text
    await eventually(lambda: asyncio.sleep(0, len(received) >= 3))
    messages = [e for e in received if isinstance(e, WhatsAppMessageReceivedV1)]
    assert sorted(e.payload.wamid for e in messages) == ["wamid.GOOD", "wamid.PROFILE"]
    [skipped] = [e for e in received if isinstance(e, WhatsAppWebhookUnhandledV1)]
    assert skipped.payload.reason == "a timestamp out of range"
    assert skipped.payload.value["message"]["id"] == "wamid.FAR"


async def test_a_webhook_keeps_the_correlation_id_and_is_counted(
    gateway_app: FastAPI, bus: Bus
) -> None:
    """Meta's POSTs bypass the shared middleware (api.WebhookFastPath): what it would do for
    them, the fast path does itself."""
    received = await listen(bus)
    body = meta_json(unicode_notification())
    headers = signed(body) | {"X-Correlation-ID": "from-the-edge"}
    async with running_app(gateway_app) as client:
        r = await client.post("/api/webhook/whatsapp", content=body, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "ok", "events": 1}
        assert r.headers["x-correlation-id"] == "from-the-edge"
        refused = await client.post("/api/webhook/whatsapp", content=body)
        assert refused.status_code == 401
        assert len(refused.headers["x-correlation-id"]) == 32  # a new one
        metrics = (await client.get("/metrics")).text
    route = 'method="POST",route="/api/webhook/whatsapp"'
    assert f'http_requests_total{{{route},status="200"}}' in metrics
    assert f'http_requests_total{{{route},status="401"}}' in metrics
    await eventually(lambda: asyncio.sleep(0, received))
    assert [e.correlation_id for e in received] == ["from-the-edge"]
