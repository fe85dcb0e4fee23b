"""/health and /metrics of a service built on ServiceRuntime, with a broker we can cut."""

import pytest
import yarl
from fastapi import FastAPI

from common.app import ServiceRuntime, create_service_app
from common.bus import Subscription
from common.db import Database
from common.events import Envelope
from common.settings import CommonSettings
from wa_testing.plugin import TcpProxy, TestKeyPair, eventually, running_app, service_settings


async def noop(event: Envelope) -> None:
    return None


@pytest.fixture
def settings(
    database_url: str, amqp_url: str, bus_prefix: str, test_keys: TestKeyPair
) -> CommonSettings:
    return service_settings(
        CommonSettings,
        database_url=database_url,
        amqp_url=amqp_url,
        bus_prefix=bus_prefix,
        keys=test_keys,
    )


def an_app(settings: CommonSettings) -> FastAPI:
    runtime = ServiceRuntime(
        settings,
        subscriptions=lambda _: [
            Subscription("health.c", ("whatsapp.webhook.unhandled.v1",), noop)
        ],
    )
    return create_service_app(settings, runtime, title="t", description="t")


async def test_health_turns_503_when_the_broker_stops_and_recovers(
    database_url: str, amqp_url: str, bus_prefix: str, test_keys: TestKeyPair
) -> None:
    target = yarl.URL(amqp_url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5672)
    await proxy.start()
    settings = service_settings(
        CommonSettings,
        database_url=database_url,
        amqp_url=proxy.url_for(amqp_url),
        bus_prefix=bus_prefix,
        keys=test_keys,
        bus_reconnect_interval_s=0.2,
    )
    app = an_app(settings)
    async with running_app(app) as client:
        ok = await client.get("/health")
        assert ok.status_code == 200
        assert ok.json() == {
            "status": "ok",
            "checks": {
                "broker": "ok",
                "consumer:health.c": "ok",
                # Every service that takes user tokens listens for removed users.
                "listener:revocations": "ok",
                "revocations": "ok",
            },
        }

        await proxy.stop()

        async def unhealthy() -> bool:
            r = await client.get("/health")
            return r.status_code == 503 and r.json()["checks"]["broker"] == "down"

        await eventually(unhealthy, timeout=10)
        down = (await client.get("/health")).json()
        assert down["status"] == "unavailable"
        assert down["checks"]["consumer:health.c"] == "down"

        await proxy.start()

        async def healthy_again() -> bool:
            return (await client.get("/health")).status_code == 200

        await eventually(healthy_again, timeout=20)
    await proxy.stop()


async def test_health_reports_the_database(settings: CommonSettings, database_url: str) -> None:
    app = an_app(settings)
    async with running_app(app) as client:
        runtime: ServiceRuntime = app.state.runtime
        # Point the runtime at a database that does not exist: the check must say so.
        runtime.db = Database(database_url.replace("/wa_test_", "/no_such_db_"), pool_size=1)
        r = await client.get("/health")
        assert r.status_code == 503
        assert r.json()["checks"]["database"] == "down"
        await runtime.db.dispose()
        runtime.db = None


async def test_metrics_are_prometheus_text(settings: CommonSettings) -> None:
    async with running_app(an_app(settings)) as client:
        await client.get("/health")
        r = await client.get("/metrics")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        assert 'http_requests_total{method="GET",route="/health",status="200"}' in r.text
