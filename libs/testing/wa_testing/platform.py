"""A whole platform for fault tests and the soak bench: all five services as real processes
on a RabbitMQ node and a Postgres cluster of the caller's own (so it may stop, kill and
restart them), the fake Graph API and LLM in-process, and a load of signed webhooks as Meta
sends them (one in ten twice, each retried until answered 200).
"""

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import asyncpg
import httpx

from common.dlq import known_consumers
from wa_testing.fakes import FakeGraphAPI, FakeLLM, GraphRequest, serve_app
from wa_testing.plugin import (
    ServiceProcess,
    bearer,
    eventually,
    messages_change,
    meta_json,
    meta_signature,
    notification,
    text_message,
)
from wa_testing.servers import PrivatePostgres, PrivateRabbitMQ

SECRET = "fault-app-secret"
SERVICES = ("auth", "ingest", "knowledge", "responder", "gateway")
POLICY = (
    "Opening hours\n\nThe shop opens Monday to Saturday from 9am to 7pm. On Sundays we are "
    "closed.\n\nRepairs\n\nA puncture repair costs 12 euros and takes one day."
)


@dataclass
class Platform:
    broker: PrivateRabbitMQ
    postgres: PrivatePostgres
    database_url: str
    prefix: str
    env: dict[str, str]
    graph: FakeGraphAPI
    llm: FakeLLM
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    phone_number_id: str = field(default_factory=lambda: f"88{uuid.uuid4().int % 10**10:010d}")
    owner: dict[str, str] = field(default_factory=dict)
    customers_seen: int = 0
    # Runs at each send the fake Graph API accepts, before it answers (a case's fault).
    send_hook: "Callable[[GraphRequest], Awaitable[None]] | None" = None
    # What killed processes printed before they died (a failing case's evidence).
    killed_output: dict[str, list[str]] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return self.processes[service].url

    def start(self, service: str) -> None:
        old = self.processes.get(service)
        env = dict(self.env)
        if service == "responder":
            env["KNOWLEDGE_URL"] = self.url("knowledge")
        process = ServiceProcess(f"{service}.main:create_app", env, port=old.port if old else None)
        self.processes[service] = process
        # In a thread: the fakes serve on this test's event loop meanwhile.
        process.start(timeout=120)

    async def astart(self, service: str) -> None:
        await asyncio.to_thread(self.start, service)

    def kill(self, service: str) -> None:
        """SIGKILL: no shutdown hook runs, whatever was in flight is cut."""
        process = self.processes[service]
        assert process.process is not None
        process.process.kill()
        process.process.wait()
        self.killed_output.setdefault(service, []).append(process.stop())

    async def health(self) -> dict[str, tuple[int, dict[str, Any]]]:
        async with httpx.AsyncClient(timeout=5) as client:
            answers = {}
            for name in SERVICES:
                try:
                    r = await client.get(f"{self.url(name)}/health")
                    answers[name] = (r.status_code, r.json())
                except httpx.HTTPError as exc:
                    answers[name] = (0, {"error": repr(exc)})
            return answers

    def queue(self, consumer: str) -> str:
        return f"{self.prefix}{consumer}"

    async def consumers_missing(self) -> list[str]:
        """Known consumers the broker itself does not count a consumer for (asked over AMQP
        with passive declares: rabbitmqctl takes a second or more per call)."""
        try:
            connection = await aio_pika.connect(self.broker.url, timeout=2)
        except Exception:
            return known_consumers()
        missing = []
        try:
            channel = await connection.channel()
            for consumer in known_consumers():
                try:
                    queue = await channel.declare_queue(self.queue(consumer), passive=True)
                    if not queue.declaration_result.consumer_count:
                        missing.append(consumer)
                except Exception:  # not there (yet): the failed declare closed the channel
                    missing.append(consumer)
                    channel = await connection.channel()
        finally:
            await connection.close()
        return missing

    async def queue_depths(self) -> dict[str, int]:
        depths = await asyncio.to_thread(self.broker.messages)
        return {q: n for q, n in depths.items() if q.startswith(self.prefix) and n}

    async def run_load(self, customers: int, *, rate_per_s: float = 20) -> "Load":
        """New customers each time: the tests of the suite share one platform."""
        first, self.customers_seen = self.customers_seen, self.customers_seen + customers
        return await run_load(self, customers, rate_per_s=rate_per_s, first=first)

    async def ensure_up(self) -> None:
        """Before each test: every service running and healthy (a failed test may have left
        one stopped, or the database down)."""
        if not _pg_running(self.postgres):
            await asyncio.to_thread(self.postgres.start)
        for name, process in self.processes.items():
            if process.process is None or process.process.poll() is not None:
                await self.astart(name)

        async def healthy() -> bool:
            return all(code == 200 for code, _ in (await self.health()).values())

        await eventually(healthy, timeout=60, interval=0.5)

    async def assert_exactly_once(self, load: "Load", *, timeout: float = 90) -> None:
        await assert_exactly_once(self, load, timeout=timeout)

    async def sql(self, query: str) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            return list(await conn.fetch(query))
        finally:
            await conn.close()


async def _setup_business(platform: Platform) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(
            f"{platform.url('auth')}/api/auth/register",
            json={
                "email": f"{uuid.uuid4().hex}@bikes.example",
                "password": "correct horse battery",
                "name": "Rui",
                "business_name": "Bicicletas Rui",
            },
        )
        assert r.status_code == 201, r.text
        platform.owner = bearer(r.json()["access_token"])
        r = await client.post(
            f"{platform.url('ingest')}/api/channels/whatsapp",
            headers=platform.owner,
            json={
                "phone_number_id": platform.phone_number_id,
                "waba_id": platform.graph.add_number(platform.phone_number_id).waba_id,
                "access_token": platform.graph.token,
            },
        )
        assert r.status_code == 201, r.text
        r = await client.post(
            f"{platform.url('knowledge')}/api/documents",
            headers=platform.owner,
            files={"file": ("shop.txt", POLICY.encode(), "text/plain")},
        )
        assert r.status_code in (201, 202), r.text
        doc = r.json()["id"]

        async def indexed() -> bool:
            got = await client.get(
                f"{platform.url('knowledge')}/api/documents/{doc}", headers=platform.owner
            )
            return bool(got.json()["status"] == "indexed")

        await eventually(indexed, timeout=60, interval=0.2)


@contextlib.asynccontextmanager
async def running_platform(
    broker: PrivateRabbitMQ, postgres: PrivatePostgres, *, echo_logs: bool = True
) -> AsyncIterator[Platform]:
    """All five services on `broker` and `postgres` (a fresh database and bus prefix), the
    fake Graph API and LLM on this event loop, and a business with its number and a document."""
    name = f"wa_fault_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(
        host="127.0.0.1", port=postgres.port, user="postgres", database="postgres"
    )
    await admin.execute(f'create database "{name}"')
    await admin.close()
    database_url = f"postgresql+asyncpg://postgres@127.0.0.1:{postgres.port}/{name}"
    prefix = f"f{uuid.uuid4().hex[:8]}."
    graph, llm = FakeGraphAPI(), FakeLLM(answer="We open Monday to Saturday, 9am to 7pm.")
    async with graph.running(), serve_app(llm.app()) as llm_url:
        env = {
            "ENVIRONMENT": "test",
            "DATABASE_URL": database_url,
            "AMQP_URL": broker.url,
            "BUS_PREFIX": prefix,
            "BUS_RECONNECT_INTERVAL_S": "0.5",
            "INTERNAL_TOKEN": "fault-internal",
            "OUTBOX_POLL_INTERVAL_S": "0.1",
            "WHATSAPP_APP_SECRET": SECRET,
            "WHATSAPP_GRAPH_URL": graph.base_url,
            "LLM_BASE_URL": f"{llm_url}/v1",
            "LLM_API_KEY": "sk-fault",
            "QUIET_PERIOD_S": "0",
            # One business carries the whole load here: no per-minute cap on its AI turns.
            "AI_TURNS_PER_MIN": "0",
            # Quick retry tiers: a message that failed during a fault comes back in seconds.
            "BUS_RETRY_DELAYS_MS": "[500,1000,2000,4000,8000,15000]",
        }
        platform = Platform(
            broker=broker,
            postgres=postgres,
            database_url=database_url,
            prefix=prefix,
            env=env,
            graph=graph,
            llm=llm,
        )
        try:
            await platform.astart("auth")
            platform.env["AUTH_JWKS_URL"] = f"{platform.url('auth')}/.well-known/jwks.json"
            for service in ("ingest", "knowledge", "responder", "gateway"):
                await platform.astart(service)
            await _setup_business(platform)
            statuses = SentStatuses(platform)
            graph.on_send = statuses.on_send
            try:
                yield platform
            finally:
                graph.on_send = None
                await statuses.close()
        finally:
            for service, process in platform.processes.items():  # shown when a test fails
                output = await asyncio.to_thread(process.stop)
                if echo_logs:
                    print(f"--- {process.factory}\n{output[-5000:]}")
                _keep_logs(service, [*platform.killed_output.get(service, []), output])


def _keep_logs(service: str, outputs: list[str]) -> None:
    """With PLATFORM_LOG_DIR set, every process's whole output (killed ones included)."""
    folder = os.environ.get("PLATFORM_LOG_DIR")
    if not folder:
        return
    os.makedirs(folder, exist_ok=True)
    for n, output in enumerate(outputs):
        with open(os.path.join(folder, f"{service}.{n}.log"), "w") as f:
            f.write(output)


def _pg_running(cluster: PrivatePostgres) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", cluster.port)) == 0


@dataclass
class Load:
    """One message from each of `customers` customers; `redelivered` of them sent twice."""

    customers: int
    wamids: dict[str, str] = field(default_factory=dict)  # wa_id -> wamid
    redelivered: int = 0
    attempts: int = 0  # webhook POSTs, retries included
    max_retry_s: float = 0.0


def customer(n: int) -> str:
    return f"3519{n:08d}"


async def send_webhook(
    client: httpx.AsyncClient, platform: Platform, wa_id: str, wamid: str, load: Load
) -> None:
    """A customer's message, as Meta delivers it."""
    change = messages_change(
        platform.phone_number_id,
        contacts=[{"profile": {"name": f"Cliente {wa_id[-3:]}"}, "wa_id": wa_id}],
        messages=[text_message(wamid, wa_id, "When are you open?", timestamp=int(time.time()))],
    )
    started = time.monotonic()
    load.attempts += await post_as_meta(client, platform, change, what=f"webhook {wamid}")
    load.max_retry_s = max(load.max_retry_s, time.monotonic() - started)


async def post_as_meta(
    client: httpx.AsyncClient, platform: Platform, change: dict[str, Any], *, what: str
) -> int:
    """As Meta does: retry with backoff until 200 (Meta keeps trying for days); returns the
    number of POSTs it took."""
    body = meta_json(notification(("WABA", [change])))
    headers = {"X-Hub-Signature-256": meta_signature(body, SECRET)}
    started, delay, attempts = time.monotonic(), 0.25, 0
    while True:
        attempts += 1
        with contextlib.suppress(httpx.HTTPError):
            r = await client.post(
                f"{platform.url('gateway')}/api/webhook/whatsapp", content=body, headers=headers
            )
            if r.status_code == 200:
                return attempts
        if time.monotonic() - started > 120:
            raise AssertionError(f"{what} never accepted")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


class SentStatuses:
    """Meta's `sent` status webhook for every send it accepts, echoing our message id
    (`biz_opaque_callback_data`), a moment after the send: how a send whose outcome its
    worker never recorded (killed between Meta's answer and the commit) is repaired."""

    def __init__(self, platform: Platform, *, delay_s: float = 0.2) -> None:
        self.platform = platform
        self.delay_s = delay_s
        self._tasks: set[asyncio.Task[None]] = set()
        self._client = httpx.AsyncClient(timeout=10)

    async def on_send(self, request: GraphRequest) -> None:
        if self.platform.send_hook is not None:
            await self.platform.send_hook(request)
        body = request.json if isinstance(request.json, dict) else {}
        if body.get("type") is None or request.wamid is None:
            return  # a read receipt, not a message
        task = asyncio.create_task(self._echo(request.wamid, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _echo(self, wamid: str, body: dict[str, Any]) -> None:
        await asyncio.sleep(self.delay_s)
        status: dict[str, Any] = {
            "id": wamid,
            "status": "sent",
            "timestamp": str(int(time.time())),
            "recipient_id": body.get("to"),
        }
        if body.get("biz_opaque_callback_data"):
            status["biz_opaque_callback_data"] = body["biz_opaque_callback_data"]
        change = messages_change(self.platform.phone_number_id, statuses=[status])
        await post_as_meta(self._client, self.platform, change, what=f"status of {wamid}")

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()


async def run_load(
    platform: Platform, customers: int, *, rate_per_s: float = 20, first: int = 0
) -> Load:
    """Send the load at a steady rate (each message concurrently, like Meta's deliveries)."""
    load = Load(customers)
    async with httpx.AsyncClient(timeout=10) as client:
        tasks = []
        for n in range(first, first + customers):
            wa_id, wamid = customer(n), f"wamid.{uuid.uuid4().hex}"
            load.wamids[wa_id] = wamid
            tasks.append(asyncio.create_task(send_webhook(client, platform, wa_id, wamid, load)))
            if n % 10 == 3:  # Meta redelivers about one in ten
                load.redelivered += 1
                tasks.append(
                    asyncio.create_task(send_webhook(client, platform, wa_id, wamid, load))
                )
            await asyncio.sleep(1 / rate_per_s)
        await asyncio.gather(*tasks)
    return load


@dataclass
class Tally:
    """What became of a load: each figure is 0 when nothing was lost or done twice."""

    unanswered: list[str]  # customers with no send at the fake Graph API
    stored_wrong: dict[str, int]  # wamid -> times stored, where not exactly once
    answered_twice: dict[str, int]  # customer -> sends, where more than one
    outbound_queued: int  # outbound messages still `queued`
    outbound_failed: int  # outbound messages `failed` (visibly, with a reason)
    # Customers whose reply failed visibly and never reached Meta (a worker killed between
    # recording `sending` and the call: never resent, to avoid a duplicate).
    failed_unsent: list[str] = field(default_factory=list)
    failed_without_reason: int = 0


async def tally(platform: Platform, load: Load) -> Tally:
    sends: dict[str, int] = {}
    for request in platform.graph.sends():
        to = request.json.get("to")
        sends[to] = sends.get(to, 0) + 1
    rows = await platform.sql(
        "select wamid, count(*) as n from ingest.messages where direction = 'inbound' "
        "group by wamid"
    )
    stored = {row["wamid"]: row["n"] for row in rows}
    # This load's customers only: the cases of a suite share one platform.
    customers = ", ".join(f"'{c}'" for c in load.wamids) or "''"
    outbound = await platform.sql(
        "select k.wa_id, m.status, m.error from ingest.messages m "
        "join ingest.conversations c on c.id = m.conversation_id "
        "join ingest.contacts k on k.id = c.contact_id "
        f"where m.direction = 'outbound' and k.wa_id in ({customers})"
    )
    failed = [r for r in outbound if r["status"] == "failed"]
    return Tally(
        unanswered=sorted(c for c in load.wamids if c not in sends),
        stored_wrong={w: stored.get(w, 0) for w in load.wamids.values() if stored.get(w) != 1},
        answered_twice={c: n for c, n in sends.items() if c in load.wamids and n > 1},
        outbound_queued=sum(1 for r in outbound if r["status"] == "queued"),
        outbound_failed=len(failed),
        failed_unsent=sorted({r["wa_id"] for r in failed} - set(sends)),
        failed_without_reason=sum(1 for r in failed if not r["error"]),
    )


async def wait_settled(platform: Platform, load: Load, timeout: float) -> Tally:
    """Until every customer is answered at Meta or their reply failed visibly, and no reply
    is left `queued` (one whose send was cut waits out its lease, then fails or is repaired
    by Meta's status); returns the last tally, settled or not."""
    deadline = time.monotonic() + timeout
    while True:
        result = await tally(platform, load)
        unsettled = set(result.unanswered) - set(result.failed_unsent)
        if (not unsettled and not result.outbound_queued) or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.5)


async def assert_exactly_once(platform: Platform, load: Load, *, timeout: float = 90) -> None:
    """Every message stored once, every customer answered once at Meta (or their reply
    visibly failed, never sent twice), nothing left queued or dead-lettered, every consumer
    on the broker, every /health 200."""
    result = await wait_settled(platform, load, timeout)
    lost = sorted(set(result.unanswered) - set(result.failed_unsent))
    if lost or result.outbound_queued:
        raise AssertionError(
            f"{len(lost)} of {load.customers} customers neither answered nor visibly failed, "
            f"{result.outbound_queued} replies still queued (queues: "
            f"{await platform.queue_depths()}, health: {await platform.health()}); where they "
            f"stopped: {await trace(platform, load, lost)}"
        )
    await asyncio.sleep(2)  # a duplicate would be on its way by now
    result = await tally(platform, load)
    assert result.stored_wrong == {}, f"not stored exactly once: {result.stored_wrong}"
    assert result.answered_twice == {}, f"answered more than once: {result.answered_twice}"
    assert result.outbound_queued == 0
    assert result.failed_without_reason == 0, "a failed reply must say why"
    if result.failed_unsent:  # allowed (never a duplicate), but worth seeing in the output
        print(f"visibly failed, not sent (outcome unknown): {result.failed_unsent}")
    assert await platform.consumers_missing() == []

    async def drained() -> bool:
        return await platform.queue_depths() == {}

    await eventually(drained, timeout=15, interval=0.5)
    health = await platform.health()
    assert all(code == 200 for code, _ in health.values()), health


async def trace(platform: Platform, load: Load, wa_ids: list[str]) -> list[dict[str, Any]]:
    """For a failing test: how far each customer's message went."""
    found = []
    for wa_id in wa_ids[:5]:
        wamid = load.wamids[wa_id]
        rows = await platform.sql(
            "select m.direction, m.author, m.status, m.error, m.conversation_id "
            "from ingest.messages m join ingest.conversations c on c.id = m.conversation_id "
            "join ingest.contacts k on k.id = c.contact_id "
            f"where k.wa_id = '{wa_id}' order by m.created_at"
        )
        claimed = await platform.sql(
            "select count(*) as n from ingest.processed_events "
            "where consumer = 'ingest.whatsapp-messages'"
        )
        found.append(
            {
                "wa_id": wa_id,
                "wamid": wamid,
                "messages": [dict(r) for r in rows],
                "inbound events claimed by ingest": claimed[0]["n"],
            }
        )
    return found
