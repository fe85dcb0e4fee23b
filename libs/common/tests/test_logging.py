"""Correlation ids: bound per request and per consumed message, carried inside events."""

import asyncio
import json
import logging

import httpx
import pytest
import structlog
from fastapi import FastAPI

from common.bus import Bus, Subscription
from common.events import Envelope, WhatsAppWebhookUnhandledPayload, WhatsAppWebhookUnhandledV1
from common.logging import (
    CorrelationIdMiddleware,
    configure_logging,
    get_correlation_id,
    redact_query_secrets,
)
from wa_testing.plugin import eventually


def an_event() -> WhatsAppWebhookUnhandledV1:
    return WhatsAppWebhookUnhandledV1(
        payload=WhatsAppWebhookUnhandledPayload(field="f", reason="r", value={})
    )


@pytest.fixture
async def client() -> httpx.AsyncClient:
    app = FastAPI()
    app.add_middleware(CorrelationIdMiddleware)

    @app.get("/event")
    async def make_event() -> dict[str, str | None]:
        return {"bound": get_correlation_id(), "in_event": an_event().correlation_id}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


async def test_a_request_keeps_the_caller_s_correlation_id(client: httpx.AsyncClient) -> None:
    r = await client.get("/event", headers={"X-Correlation-ID": "from-the-edge"})
    assert r.json() == {"bound": "from-the-edge", "in_event": "from-the-edge"}
    assert r.headers["x-correlation-id"] == "from-the-edge"


async def test_a_request_without_one_gets_a_fresh_one(client: httpx.AsyncClient) -> None:
    first = await client.get("/event")
    second = await client.get("/event")
    assert first.json()["in_event"] == first.headers["x-correlation-id"]
    assert first.json()["bound"] != second.json()["bound"]


async def test_a_consumer_binds_the_event_s_correlation_id(bus: Bus) -> None:
    seen: list[str | None] = []

    async def handler(event: Envelope) -> None:
        seen.append(get_correlation_id())
        # An event emitted while handling carries the same id onwards.
        seen.append(an_event().correlation_id)

    await bus.subscribe(Subscription("c.log", ("whatsapp.webhook.unhandled.v1",), handler))
    structlog.contextvars.bind_contextvars(correlation_id="customer-message-42")
    event = an_event()
    structlog.contextvars.clear_contextvars()
    await bus.publish(event)
    await eventually(lambda: asyncio.sleep(0, seen))
    assert seen == ["customer-message-42", "customer-message-42"]


def test_production_logs_are_json_lines_with_the_correlation_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(service="svc", environment="production", level="INFO")
    try:
        structlog.contextvars.bind_contextvars(correlation_id="abc")
        structlog.get_logger("t").info("thing.happened", size=3)
        logging.getLogger("stdlib").warning("from the standard library")
    finally:
        structlog.contextvars.clear_contextvars()
        configure_logging(service="svc", environment="development", level="INFO")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    ours = next(line for line in lines if line["event"] == "thing.happened")
    assert ours["correlation_id"] == "abc"
    assert ours["service"] == "svc"
    assert ours["level"] == "info"
    assert ours["size"] == 3
    assert any(line["event"] == "from the standard library" for line in lines)


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        (
            "/api/events/stream?access_token=abc.def&x=1",
            "/api/events/stream?access_token=[redacted]&x=1",
        ),
        (
            "/hook?hub.mode=subscribe&hub.verify_token=t0p",
            "/hook?hub.mode=subscribe&hub.verify_token=[redacted]",
        ),
        ("/api/conversations?limit=5&cursor=xyz", "/api/conversations?limit=5&cursor=xyz"),
        ("/api/stream?ticket=1&API_KEY=2", "/api/stream?ticket=[redacted]&API_KEY=[redacted]"),
        ("/health", "/health"),
    ],
)
def test_secret_query_parameters_are_redacted(path: str, logged: str) -> None:
    assert redact_query_secrets(path) == logged
