"""What every service's `create_app` shares: start-up order, state, middleware, health."""

import asyncio
import gc
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from fastapi import APIRouter, FastAPI
from sqlalchemy import Table
from starlette.types import ASGIApp

from common.auth import JWKSVerifier
from common.bodylimit import BodyLimitMiddleware
from common.bus import Bus, Subscription
from common.db import Database, ensure_database
from common.errors import install_error_handlers
from common.health import MetricsMiddleware
from common.health import router as health_router
from common.logging import CorrelationIdMiddleware, configure_logging
from common.migrations import upgrade
from common.openapi import document_errors
from common.outbox import OutboxRelay
from common.retention import Purger, Retention
from common.revocation import REVOCATION_EVENTS, Revocations
from common.settings import CommonSettings

log = structlog.get_logger(__name__)


class ServiceRuntime:
    """The long-lived parts of one service process, started and stopped in order."""

    def __init__(
        self,
        settings: CommonSettings,
        *,
        service_dir: Path | None = None,
        outbox: Table | None = None,
        subscriptions: Callable[["ServiceRuntime"], Sequence[Subscription]] | None = None,
        uses_bus: bool = True,
        checks_tokens: bool = True,
        retention: Sequence[Retention] = (),
    ) -> None:
        self.settings = settings
        self.service_dir = service_dir  # holds alembic.ini + migrations/ when it owns a schema
        self.outbox_table = outbox
        self.subscriptions = subscriptions
        self.uses_bus = uses_bus
        self.db: Database | None = None
        self.bus: Bus | None = None
        self.relay: OutboxRelay | None = None
        self.retention = list(retention)
        self.purger: Purger | None = None
        self.verifier = _verifier(settings)
        # Removed users' tokens are refused here too (the gateway takes no user tokens).
        self.revocations: Revocations | None = (
            Revocations(
                url=settings.revocations_url,
                internal_token=settings.internal_token.get_secret_value(),
                sync_interval_s=settings.revocation_sync_interval_s,
            )
            if checks_tokens
            else None
        )

    async def start(self) -> None:
        s = self.settings
        if self.service_dir is not None:
            await ensure_database(s.database_url)
            await asyncio.to_thread(upgrade, self.service_dir, s.database_url)
            self.db = Database(s.database_url, pool_size=s.db_pool_size)
        if self.uses_bus:
            self.bus = Bus(
                s.amqp_url,
                prefix=s.bus_prefix,
                service=s.service_name,
                retry_delays_ms=s.bus_retry_delays_ms,
                prefetch=s.bus_prefetch,
                quorum_queues=s.bus_quorum_queues,
                queue_expires_ms=s.bus_queue_expires_ms,
                reconnect_interval=s.bus_reconnect_interval_s,
            )
            await _connect_with_retry(self.bus)
        if self.outbox_table is not None and self.db is not None and self.bus is not None:
            self.relay = OutboxRelay(
                self.db, self.outbox_table, self.bus, poll_interval=s.outbox_poll_interval_s
            )
            self.relay.start()
            self.bus.on_reconnect(self.relay.wake)
        if self.retention and self.db is not None:
            self.purger = Purger(self.db, self.retention, interval_s=s.purge_interval_s)
            self.purger.start()
        if self.bus is not None:
            for subscription in self.consumer_subscriptions():
                await self.bus.subscribe(subscription)
        if self.revocations is not None:
            # Listening before the first sync: a removal in between is not missed.
            if self.bus is not None:
                await self.bus.listen(
                    REVOCATION_EVENTS, self.revocations.handle, name="revocations"
                )
                self.bus.on_reconnect(self.revocations.wake)
            await self.revocations.start()

    def consumer_subscriptions(self) -> Sequence[Subscription]:
        """What this process consumes, built once the database and the bus exist. A service's
        composition root (its main.py) overrides this to hand its consumers their
        collaborators; `subscriptions=` is the short form for a runtime without a subclass."""
        return self.subscriptions(self) if self.subscriptions is not None else ()

    async def stop(self) -> None:
        if self.revocations is not None:
            await self.revocations.stop()
        if self.relay is not None:
            await self.relay.stop()
        if self.purger is not None:
            await self.purger.stop()
        if self.bus is not None:
            await self.bus.close()
        if self.db is not None:
            await self.db.dispose()

    def app_state(self) -> dict[str, object]:
        """What routes find on `request.app.state` once the runtime has started."""
        return {
            "db": self.db,
            "bus": self.bus,
            "verifier": self.verifier,
            "revocations": self.revocations,
        }

    async def check_database(self) -> dict[str, str]:
        if self.db is None:
            return {}
        try:
            await self.db.ping()
            return {"database": "ok"}
        except Exception:
            return {"database": "down"}

    async def check_bus(self) -> dict[str, str]:
        state = await self.bus.check() if self.bus is not None else {}
        if self.relay is not None:
            state["outbox_relay"] = "ok" if self.relay.running else "down"
        if self.revocations is not None:
            state.update(self.revocations.health())
        return state


async def _connect_with_retry(bus: Bus, attempts: int = 30) -> None:
    for attempt in range(1, attempts + 1):
        try:
            await bus.connect()
            return
        except (ConnectionError, OSError) as exc:
            if attempt == attempts:
                raise
            log.warning("bus.connect_retry", attempt=attempt, error=repr(exc))
            await asyncio.sleep(1.0)


def _verifier(settings: CommonSettings) -> JWKSVerifier:
    if settings.auth_jwks_json:
        return JWKSVerifier(
            jwks=json.loads(settings.auth_jwks_json),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    return JWKSVerifier(
        jwks_url=settings.auth_jwks_url, issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )


class _ServiceApp(FastAPI):
    # Set by `create_service_app(outermost=...)`; wraps the stack once it is built.
    outermost: Callable[[ASGIApp], ASGIApp] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return stack if self.outermost is None else self.outermost(stack)


def create_service_app(
    settings: CommonSettings,
    runtime: ServiceRuntime,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter] = (),
    body_limits: Mapping[str, int] | None = None,
    outermost: Callable[[ASGIApp], ASGIApp] | None = None,
) -> FastAPI:
    """A FastAPI app with logging, correlation ids, errors, /health, /metrics and the runtime.

    Request bodies are capped at MAX_BODY_BYTES (1 MiB), or at `body_limits[path]` for the
    paths that take more (uploads, webhooks). `outermost` wraps everything (FastAPI's own
    layers and the shared middleware): for a hot path that does their work itself and hands
    every other request on."""
    configure_logging(
        service=settings.service_name, environment=settings.environment, level=settings.log_level
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        for name, value in runtime.app_state().items():
            setattr(app.state, name, value)
        # What start-up built lives as long as the process: keep the collector off it, so
        # full collections under load stay short (tail latency).
        gc.collect()
        gc.freeze()
        log.info("service.started")
        try:
            yield
        finally:
            await runtime.stop()
            log.info("service.stopped")

    # FastAPI's native OpenTelemetry would look up the global providers on every request
    # (about 5% of a webhook's CPU); we export none.
    app = _ServiceApp(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.outermost = outermost
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.verifier = runtime.verifier
    app.state.revocations = runtime.revocations
    app.state.health_checks = [runtime.check_database, runtime.check_bus]
    # Added first: innermost of the three, so its 413s carry a correlation id and are counted.
    app.add_middleware(
        BodyLimitMiddleware, default_bytes=settings.max_body_bytes, routes=body_limits
    )
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(CorrelationIdMiddleware)
    install_error_handlers(app)
    app.include_router(health_router)
    for router in routers:
        app.include_router(router)
    document_errors(app)
    return app
