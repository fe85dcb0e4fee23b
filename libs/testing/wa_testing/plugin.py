"""pytest plugin for every service's tests (`-p wa_testing.plugin`).

- The database and broker come from `DATABASE_URL` / `AMQP_URL`; without them, from
  testcontainers when a Docker engine answers; otherwise the run fails and names the
  variable to set (never a silent skip).
- One throwaway database per test run (created, then dropped); each service's schema is
  migrated into it once (`migrated_database`).
- Broker isolation by prefix: each test gets its own exchange/queue prefix.
Also here: a test key pair that signs tokens, a TCP proxy to cut a connection on purpose,
an in-process app runner and a real-process service runner.
"""

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import jwt
import pytest
import yarl
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from common.bus import Bus
from common.db import async_url
from common.logging import configure_logging
from common.migrations import upgrade
from common.settings import CommonSettings

SettingsT = TypeVar("SettingsT", bound=CommonSettings)
# Every queue a test declares expires once unused, whatever cleanup was or was not reached.
TEST_QUEUE_EXPIRES_MS = 120_000


def pytest_configure(config: pytest.Config) -> None:
    # Logs go through the standard library, where pytest captures them per test.
    configure_logging(service="test", environment="test", level="INFO")


# --- database and broker ---------------------------------------------------------------------


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:  # no engine, no socket, no package: all mean "no Docker"
        return False


@pytest.fixture(scope="session")
def server_database_url() -> Iterator[str]:
    """The Postgres server the run may create databases on."""
    if url := os.environ.get("DATABASE_URL"):
        yield async_url(url)
        return
    if not _docker_available():
        pytest.fail(
            "No database for the tests: set DATABASE_URL (e.g. "
            "postgresql+asyncpg://postgres@localhost:5432/whatsapp_ai) or run a Docker engine.",
            pytrace=False,
        )
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:15", driver="asyncpg") as pg:
        yield pg.get_connection_url()


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """The RabbitMQ broker of the run."""
    if url := os.environ.get("AMQP_URL"):
        yield url
        return
    if not _docker_available():
        pytest.fail(
            "No broker for the tests: set AMQP_URL (e.g. amqp://guest:guest@localhost:5672/) "
            "or run a Docker engine.",
            pytrace=False,
        )
    from testcontainers.rabbitmq import RabbitMqContainer

    with RabbitMqContainer("rabbitmq:3.13") as rabbit:
        params = rabbit.get_connection_params()
        yield f"amqp://guest:guest@{params.host}:{params.port}/"


async def _admin(server_url: str, sql: str) -> None:
    import asyncpg

    parsed = make_url(server_url)
    conn = await asyncpg.connect(
        host=parsed.host or "localhost",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        database="postgres",
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def database_url(server_database_url: str) -> Iterator[str]:
    """A throwaway database for this test run, dropped at the end (never the dev database)."""
    name = f"wa_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server_database_url, f'create database "{name}"'))
    try:
        yield make_url(server_database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(server_database_url, f'drop database if exists "{name}" with (force)'))


_migrated: set[str] = set()


def migrated_database(database_url: str, service_dir: Path) -> str:
    """Migrate a service's schema into the run's database, once per run; returns the URL."""
    key = f"{database_url}|{service_dir}"
    if key not in _migrated:
        upgrade(service_dir, database_url)
        _migrated.add(key)
    return database_url


@pytest.fixture
def bus_prefix() -> str:
    """A fresh exchange/queue prefix: each test has its own topology on the shared broker."""
    return f"test.{uuid.uuid4().hex[:10]}."


@pytest.fixture
async def bus(amqp_url: str, bus_prefix: str) -> AsyncIterator[Bus]:
    """A connected bus under the test's prefix; its queues are deleted afterwards."""
    b = Bus(
        amqp_url,
        prefix=bus_prefix,
        service="test",
        retry_delays_ms=(100, 200),
        queue_expires_ms=TEST_QUEUE_EXPIRES_MS,
    )
    await b.connect()
    try:
        yield b
    finally:
        await remove_topology(amqp_url, bus_prefix, b.declared_consumers, b.retry_delays_ms)
        await b.close()


async def remove_topology(
    amqp_url: str,
    prefix: str,
    consumers: set[str],
    retry_delays_ms: Sequence[int] = tuple(
        CommonSettings.model_fields["bus_retry_delays_ms"].default
    ),
) -> None:
    """Delete the queues of `consumers` and of every registered consumer (`make dlq-list`'s
    registry: services started as processes declare those), their retry and dead-letter
    queues, and the exchange under `prefix`.

    Why every consumer: a quorum queue is a heavy process on the broker and a retry queue
    outlives the test by an hour (`bus.RETRY_QUEUE_EXPIRY_FACTOR`); a test that left them to
    expire piled up hundreds, and the shared broker stopped answering handshakes."""
    from common.dlq import known_consumers

    default_delays = CommonSettings.model_fields["bus_retry_delays_ms"].default
    delays = sorted({*retry_delays_ms, *default_delays})
    cleaner = Bus(amqp_url, prefix=prefix, service="test-cleanup", retry_delays_ms=delays)
    await cleaner.connect()
    try:
        await cleaner.delete_topology(sorted(set(consumers) | set(known_consumers())))
    finally:
        await cleaner.close()


# --- tokens ----------------------------------------------------------------------------------


class TestKeyPair:
    """An Ed25519 key pair that signs tokens the way auth does, and the JWKS to verify them."""

    __test__ = False  # not a test class

    def __init__(self, *, issuer: str = "whatsapp-ai-auth", audience: str = "whatsapp-ai") -> None:
        self.issuer = issuer
        self.audience = audience
        self.kid = uuid.uuid4().hex[:16]
        self.private_key = Ed25519PrivateKey.generate()

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.private_key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "alg": "EdDSA", "use": "sig"}]}

    def token(
        self,
        *,
        tenant_id: uuid.UUID | None = None,
        user_id: uuid.UUID | None = None,
        role: str = "owner",
        expires_in: timedelta = timedelta(hours=1),
        **overrides: Any,
    ) -> str:
        now = datetime.now(UTC)
        claims: dict[str, Any] = {
            "sub": str(user_id or uuid.uuid4()),
            "tid": str(tenant_id or uuid.uuid4()),
            "role": role,
            "iat": now,
            "exp": now + expires_in,
            "iss": self.issuer,
            "aud": self.audience,
            **overrides,
        }
        return jwt.encode(claims, self.private_key, algorithm="EdDSA", headers={"kid": self.kid})


@pytest.fixture(scope="session")
def test_keys() -> TestKeyPair:
    return TestKeyPair()


def service_settings(
    cls: type[SettingsT],
    *,
    database_url: str,
    amqp_url: str,
    bus_prefix: str,
    keys: TestKeyPair,
    **overrides: Any,
) -> SettingsT:
    """Settings for a service under test: the run's database, the test's broker prefix,
    short retry tiers and the test key pair's JWKS inline."""
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "amqp_url": amqp_url,
        "bus_prefix": bus_prefix,
        "bus_retry_delays_ms": [100, 200],
        "outbox_poll_interval_s": 0.1,
        "auth_jwks_json": json.dumps(keys.jwks()),
        "db_pool_size": 5,
        "bus_queue_expires_ms": TEST_QUEUE_EXPIRES_MS,
        **overrides,
    }
    return cls(**values)


# --- running apps ----------------------------------------------------------------------------


def asgi_client(app: FastAPI, *, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """An HTTP client to the app in-process, seen as coming from `address`."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@contextlib.asynccontextmanager
async def running_app(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Start the app's lifespan (db, bus, consumers, relay) and give an HTTP client to it.

    On exit, the queues the app declared under its test prefix are removed.
    """
    settings = app.state.settings
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        declared = set(runtime.bus.declared_consumers) if runtime.bus else set()
        async with asgi_client(app) as client:
            yield client
        if runtime.bus:
            declared |= runtime.bus.declared_consumers
    if declared:
        await remove_topology(
            settings.amqp_url, settings.bus_prefix, declared, tuple(settings.bus_retry_delays_ms)
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """A service started for real (`uvicorn --factory`) on a free port, with its own env."""

    def __init__(
        self,
        factory: str,
        env: Mapping[str, str],
        *,
        port: int | None = None,
        access_log: bool = False,
    ):
        self.factory = factory
        self.access_log = access_log  # on, as `make run` runs them
        self.port = port or free_port()
        self.env = {"BUS_QUEUE_EXPIRES_MS": str(TEST_QUEUE_EXPIRES_MS), **os.environ, **env}
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 30.0) -> "ServiceProcess":
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            self.factory,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *([] if self.access_log else ["--no-access-log"]),
            # As deployed: the dashboard's proxy reuses idle connections for up to 5 s, as
            # long as uvicorn's default, and one reused as uvicorn closed it answered 500.
            "--timeout-keep-alive",
            "130",
        ]
        # A file, not a pipe: a pipe nobody reads fills up and blocks the service's logging.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            cmd, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.factory} exited at start:\n{self.output()[-4000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            time.sleep(0.2)
        output = self.stop()
        raise RuntimeError(f"{self.factory} was not healthy within {timeout}s:\n{output[-4000:]}")

    def output(self) -> str:
        """What the service printed so far."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> str:
        """Stop it; returns what it printed (for a failing test's message)."""
        if self.process is None:
            return ""
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        out = self.output()
        if self._log is not None:
            self._log.close()
            self._log = None
        return out


# --- cutting a connection on purpose -----------------------------------------------------------


@contextlib.asynccontextmanager
async def running_services(
    base: Mapping[str, str], extra: Mapping[str, str]
) -> AsyncIterator[dict[str, str]]:
    """The five services as processes on the test's database and broker, for flows across
    them: auth first (the others verify its tokens), the responder pointed at knowledge.
    `base` goes to every service, `extra` (Meta's secret and URL, the LLM…) to all but auth.
    Yields each service's URL by name; on exit stops them and prints their output (pytest
    shows it when the test fails)."""
    auth = ServiceProcess("auth.main:create_app", base).start()
    env = {**base, "AUTH_JWKS_URL": f"{auth.url}/.well-known/jwks.json", **extra}
    started = [auth]
    try:
        for name in ("ingest", "knowledge"):
            started.append(ServiceProcess(f"{name}.main:create_app", env).start(timeout=90))
        responder_env = {**env, "KNOWLEDGE_URL": started[-1].url}
        started.append(ServiceProcess("responder.main:create_app", responder_env).start())
        started.append(ServiceProcess("gateway.main:create_app", env).start())
        names = ("auth", "ingest", "knowledge", "responder", "gateway")
        yield {name: process.url for name, process in zip(names, started, strict=True)}
    finally:
        for process in started:
            print(f"--- {process.factory}\n{process.stop()[-6000:]}")


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; `stop()` drops every connection (a dead broker)."""

    def __init__(self, target_host: str, target_port: int, *, port: int | None = None) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = port or free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    def url_for(self, amqp_url: str) -> str:
        """The same AMQP URL, through this proxy."""
        return str(yarl.URL(amqp_url).with_host("127.0.0.1").with_port(self.port))


async def eventually(check: Any, *, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Await `check()` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


# --- speaking as Meta ----------------------------------------------------------------------------


def meta_json(payload: Any) -> bytes:
    """JSON bytes the way Meta sends them: compact, non-ASCII as \\uXXXX, '/' as '\\/',
    '@' as '\\u0040' — so a signature test that re-serialises would fail, as it should."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
    return text.replace("/", "\\/").replace("@", "\\u0040").encode()


def meta_signature(body: bytes, app_secret: str) -> str:
    import hashlib
    import hmac

    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def text_message(
    wamid: str, sender: str, body: str, *, timestamp: int = 1767268800
) -> dict[str, Any]:
    return {
        "from": sender,
        "id": wamid,
        "timestamp": str(timestamp),
        "type": "text",
        "text": {"body": body},
    }


def messages_change(
    phone_number_id: str,
    *,
    messages: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
    contacts: list[dict[str, Any]] | None = None,
    display_phone_number: str = "15550783881",
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": display_phone_number,
            "phone_number_id": phone_number_id,
        },
    }
    if contacts is not None:
        value["contacts"] = contacts
    if messages is not None:
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return {"field": "messages", "value": value}


def notification(*entries: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """A webhook body: one entry per (waba_id, changes)."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba, "changes": changes} for waba, changes in entries],
    }


# --- tenant isolation ----------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def assert_tenant_isolation(
    client: httpx.AsyncClient,
    keys: TestKeyPair,
    *,
    create: Any,
    item_path: str,
    list_path: str | None = None,
    updates: list[tuple[str, dict[str, Any]]] | None = None,
    delete: bool = True,
    role: str = "owner",
) -> None:
    """Prove that tenant B can neither see nor change what tenant A created.

    `create(headers_of_a) -> id` makes one object as tenant A; `item_path` has `{id}`.
    B's list must not contain it; B's get, each of `updates` (method, body) and delete
    must answer 404; afterwards A still reads it unchanged.
    """
    headers_a = bearer(keys.token(tenant_id=uuid.uuid4(), role=role))
    headers_b = bearer(keys.token(tenant_id=uuid.uuid4(), role=role))
    object_id = str(await create(headers_a))
    path = item_path.format(id=object_id)
    before = await client.get(path, headers=headers_a)
    assert before.status_code == 200, f"tenant A cannot read its own {path}: {before.text}"

    if list_path is not None:
        listing = await client.get(list_path, headers=headers_b)
        assert listing.status_code == 200, listing.text
        assert object_id not in listing.text, f"{list_path} shows tenant A's {object_id} to B"
    seen = await client.get(path, headers=headers_b)
    assert seen.status_code == 404, f"GET {path} as tenant B: {seen.status_code} {seen.text}"
    for method, body in updates or []:
        changed = await client.request(method, path, json=body, headers=headers_b)
        assert changed.status_code == 404, f"{method} {path} as B: {changed.status_code}"
    if delete:
        removed = await client.delete(path, headers=headers_b)
        assert removed.status_code == 404, f"DELETE {path} as B: {removed.status_code}"

    after = await client.get(path, headers=headers_a)
    assert after.status_code == 200, f"tenant A lost {path} after B's attempts"
    assert after.json() == before.json(), f"tenant B's attempts changed {path}"
