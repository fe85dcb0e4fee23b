"""The platform's own overhead on an AI answer: webhook in (gateway) → ingest → responder
(knowledge search + an LLM that answers instantly) → ingest → the Graph API call out.

Every service runs as its own uvicorn process (one worker each) against local Postgres and
RabbitMQ; Meta's Graph API and the LLM are small HTTP servers in this process. Each of
BENCH_CONVERSATIONS customers writes once, at BENCH_RATE webhooks/s; the script prints the
latency from its webhook's POST to the Graph call carrying the answer (p50/p95), where the
time goes, and each service's CPU per reply. Then BENCH_BURST customers write at
BENCH_BURST_RATE/s: the replies per second sustained.

    make bench        (BENCH_CONVERSATIONS, BENCH_RATE to change the load)

BENCH_PROFILE=<prefix> records every service with py-spy into <prefix>.<service>.raw.

CPU per reply includes what a service spends idle (outbox polls, health loops) while the
replies trickle in, so it is higher at low rates: on 2026-12-04 (load average 2-8 from other
work on the machine) ingest spent 75 ms per reply at 2/s and 54 ms at 10/s.
"""

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from common.db import Database, ensure_database
from wa_testing.fakes import FakeLLM, serve_app
from wa_testing.plugin import (
    ServiceProcess,
    TestKeyPair,
    bearer,
    messages_change,
    meta_json,
    meta_signature,
    notification,
    remove_topology,
    text_message,
)

SERVER_URL = os.environ.get(
    "DATABASE_URL", "postgresql+asyncpg://postgres@localhost:5432/whatsapp_ai"
)
AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/")
CONVERSATIONS = int(os.environ.get("BENCH_CONVERSATIONS", "1000"))
RATE = float(os.environ.get("BENCH_RATE", "10"))  # webhooks per second, open loop
# Then a burst, for the replies per second the platform sustains.
BURST = int(os.environ.get("BENCH_BURST", "300"))
BURST_RATE = float(os.environ.get("BENCH_BURST_RATE", "100"))
# Seconds of no traffic, after the warm-up, over which each service's idle CPU is measured.
IDLE_S = float(os.environ.get("BENCH_IDLE_S", "5"))
SECRET = "bench-app-secret"
PNID = "500000000001"
WABA_ID = "500000000002"
POLICY = "Delivery\n\nWe deliver on Sundays between 9am and 1pm. Delivery costs 3 euros."


def graph_app(arrivals: dict[str, float]) -> FastAPI:
    """Meta's send endpoint: records when the answer to each customer arrives; and the two
    reads that verify the channel's number when it is connected."""
    app = FastAPI()

    @app.get(f"/{PNID}")
    async def number() -> JSONResponse:
        return JSONResponse({"id": PNID, "display_phone_number": "+1 555-010-0001"})

    @app.get(f"/{WABA_ID}/phone_numbers")
    async def account_numbers() -> JSONResponse:
        return JSONResponse({"data": [{"id": PNID}], "paging": {"cursors": {}}})

    @app.post("/{phone_number_id}/messages")
    async def send(phone_number_id: str, request: Request) -> JSONResponse:
        body = await request.json()
        if body.get("type") == "text" and body.get("to"):
            arrivals.setdefault(body["to"], time.time())
        return JSONResponse(
            {"messaging_product": "whatsapp", "messages": [{"id": f"wamid.{uuid.uuid4().hex}"}]}
        )

    return app


def cpu_seconds(service: ServiceProcess) -> float:
    """User + system CPU time of a service's process so far (Linux)."""
    assert service.process is not None
    with open(f"/proc/{service.process.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile(service: ServiceProcess) -> subprocess.Popen[bytes] | None:
    prefix = os.environ.get("BENCH_PROFILE")
    if not prefix or service.process is None:
        return None
    name = service.factory.split(".")[0]
    spy = os.path.join(os.path.dirname(sys.executable), "py-spy")
    cmd = [spy, "record", "-p", str(service.process.pid), "-r", "100", "--format", "raw"]
    return subprocess.Popen(
        [*cmd, "-o", f"{prefix}.{name}.raw"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def stages(db_url: str, sent: dict[str, float], arrivals: dict[str, float]) -> None:
    """Where the time goes, from each service's own timestamps (transaction starts), medians."""
    db = Database(db_url, pool_size=1)
    try:
        async with db.sessionmaker() as s:
            rows = (
                await s.execute(
                    text(
                        "select ct.wa_id, extract(epoch from min(m.stored_at) filter (where "
                        "m.direction = 'inbound')) inbound, extract(epoch from min(r.created_at)) "
                        "answering, extract(epoch from min(m.stored_at) filter (where "
                        "m.direction = 'outbound')) queued from ingest.messages m "
                        "join ingest.conversations c on c.id = m.conversation_id "
                        "join ingest.contacts ct on ct.id = c.contact_id "
                        "left join responder.replies r on r.conversation_id = c.id "
                        "group by ct.wa_id"
                    )
                )
            ).all()
    finally:
        await db.dispose()
    marks: dict[str, list[float]] = {"webhook->stored": [], "stored->answering": [],
                                     "answering->reply queued": [], "queued->Graph call": []}  # fmt: skip
    for row in rows:
        if (
            row.wa_id not in sent
            or row.wa_id not in arrivals
            or None in (row.queued, row.answering)
        ):
            continue
        t = [sent[row.wa_id], float(row.inbound), float(row.answering), float(row.queued)]
        t.append(arrivals[row.wa_id])
        for (_name, values), a, b in zip(marks.items(), t, t[1:], strict=False):
            values.append((b - a) * 1000)
    print(
        "stages (median ms; each a transaction's start): "
        + ", ".join(f"{k} {statistics.median(v):.0f}" for k, v in marks.items() if v)
    )


async def main() -> None:
    name = f"wa_bench_e2e_{uuid.uuid4().hex[:8]}"
    db_url = SERVER_URL.rsplit("/", 1)[0] + f"/{name}"
    await ensure_database(db_url)
    keys = TestKeyPair()
    tenant = uuid.uuid4()
    arrivals: dict[str, float] = {}
    llm = FakeLLM(answer="We deliver on Sundays between 9am and 1pm.")
    processes: list[ServiceProcess] = []
    async with serve_app(graph_app(arrivals)) as graph_url, serve_app(llm.app()) as llm_url:
        env = {
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": db_url,
            "AMQP_URL": AMQP_URL,
            "BUS_PREFIX": f"bench.{name}.",
            "INTERNAL_TOKEN": "bench",
            "AUTH_JWKS_JSON": json.dumps(keys.jwks()),
            "WHATSAPP_APP_SECRET": SECRET,
            "WHATSAPP_GRAPH_URL": graph_url,
            "LLM_BASE_URL": f"{llm_url}/v1",
            "LLM_API_KEY": "sk-bench",
            "QUIET_PERIOD_S": "0",
            # One business carries the whole load here: no per-minute cap on its AI turns.
            "AI_TURNS_PER_MIN": "0",
        }
        try:
            for factory in ("ingest", "knowledge", "responder", "gateway"):
                process = ServiceProcess(f"{factory}.main:create_app", {**env, "KNOWLEDGE_URL": ""})
                processes.append(process)
            ingest, knowledge, responder, gateway = processes
            for p in (ingest, knowledge):
                p.start(timeout=90)
            responder.env["KNOWLEDGE_URL"] = knowledge.url
            responder.start(timeout=60)
            gateway.start()
            owner = bearer(keys.token(tenant_id=tenant))
            async with httpx.AsyncClient(timeout=30) as client:
                r = await client.post(
                    f"{ingest.url}/api/channels/whatsapp",
                    headers=owner,
                    json={
                        "phone_number_id": PNID,
                        "waba_id": WABA_ID,
                        "access_token": "EAAG-bench",
                    },
                )
                assert r.status_code == 201, r.text
                r = await client.post(
                    f"{knowledge.url}/api/documents",
                    headers=owner,
                    files={"file": ("policy.txt", POLICY.encode(), "text/plain")},
                )
                doc = r.json()["id"]
                while (
                    await client.get(f"{knowledge.url}/api/documents/{doc}", headers=owner)
                ).json()["status"] != "indexed":
                    await asyncio.sleep(0.2)
                sent: dict[str, float] = {}
                limits = httpx.Limits(max_connections=100)
                async with httpx.AsyncClient(base_url=gateway.url, timeout=30, limits=limits) as gw:

                    async def one(i: int) -> None:
                        wa_id = f"3519{i:08d}"
                        body = meta_json(
                            notification(
                                (
                                    "WABA",
                                    [
                                        messages_change(
                                            PNID,
                                            contacts=[
                                                {"profile": {"name": f"C{i}"}, "wa_id": wa_id}
                                            ],
                                            messages=[
                                                text_message(
                                                    f"wamid.bench.{name}.{i}",
                                                    wa_id,
                                                    "Do you deliver on Sundays?",
                                                    timestamp=int(time.time()),
                                                )
                                            ],
                                        )
                                    ],
                                )
                            )
                        )
                        sent[wa_id] = time.time()
                        response = await gw.post(
                            "/api/webhook/whatsapp",
                            content=body,
                            headers={
                                "X-Hub-Signature-256": meta_signature(body, SECRET),
                                "Content-Type": "application/json",
                            },
                        )
                        assert response.status_code == 200, response.text

                    async def phase(first: int, count: int, rate: float) -> None:
                        """`count` customers write once each, at `rate` webhooks/s (open loop),
                        and every answer reaches the Graph API."""
                        began = time.perf_counter()
                        tasks = []
                        for i in range(first, first + count):
                            tasks.append(asyncio.create_task(one(i)))
                            await asyncio.sleep(
                                max(0.0, began + (i - first + 1) / rate - time.perf_counter())
                            )
                        await asyncio.gather(*tasks)
                        deadline = time.perf_counter() + 180
                        while len(arrivals) < first + count and time.perf_counter() < deadline:
                            await asyncio.sleep(0.02)

                    await phase(0, 20, 10)  # warm-up: connections, caches, the first plans
                    idle_before = [cpu_seconds(p) for p in processes]
                    await asyncio.sleep(IDLE_S)
                    idle_used = [
                        cpu_seconds(p) - c for p, c in zip(processes, idle_before, strict=True)
                    ]
                    profilers = [profile(p) for p in processes]
                    cpu_before = [cpu_seconds(p) for p in processes]
                    await phase(20, CONVERSATIONS, RATE)
                    cpu_used = [
                        cpu_seconds(p) - c for p, c in zip(processes, cpu_before, strict=True)
                    ]
                    for profiler in profilers:
                        if profiler is not None:
                            profiler.send_signal(signal.SIGINT)  # py-spy writes on SIGINT
                            profiler.wait()
                    burst_from = 20 + CONVERSATIONS
                    await phase(burst_from, BURST, BURST_RATE)
            measured = [f"3519{i:08d}" for i in range(20, 20 + CONVERSATIONS)]
            latencies = sorted((arrivals[w] - sent[w]) * 1000 for w in measured if w in arrivals)
            done = len(latencies)
            print(
                f"machine: {os.cpu_count()} cores; one uvicorn worker per service; "
                f"{CONVERSATIONS} conversations at {RATE:.0f} webhooks/s; LLM answers instantly; "
                "quiet period 0"
            )
            print(
                f"answered {done}/{CONVERSATIONS}; webhook in -> Graph call out: p50 "
                f"{statistics.median(latencies):.0f} ms, p95 {latencies[int(0.95 * done) - 1]:.0f} ms, "
                f"max {latencies[-1]:.0f} ms (targets: p50 <= 150 ms, p95 <= 500 ms)"
            )
            burst = [f"3519{i:08d}" for i in range(burst_from, burst_from + BURST)]
            answered = [arrivals[w] for w in burst if w in arrivals]
            span = max(answered) - min(sent[w] for w in burst) if answered else float("nan")
            print(
                f"replies sustained: {len(answered)}/{BURST} customers writing at "
                f"{BURST_RATE:.0f}/s answered in {span:.1f} s = {len(answered) / span:.1f} replies/s"
            )
            await stages(db_url, {w: sent[w] for w in measured}, arrivals)
            print(
                "CPU per reply (ms): "
                + ", ".join(
                    f"{p.factory.split('.')[0]} {1000 * c / max(done, 1):.1f}"
                    for p, c in zip(processes, cpu_used, strict=True)
                )
            )
            print(
                f"idle CPU (ms per s, over {IDLE_S:.0f} s with no traffic): "
                + ", ".join(
                    f"{p.factory.split('.')[0]} {1000 * c / IDLE_S:.1f}"
                    for p, c in zip(processes, idle_used, strict=True)
                )
            )
        finally:
            for p in processes:
                output = p.stop()
                if os.environ.get("BENCH_LOGS"):  # warnings and errors of each service
                    print(f"--- {p.factory}\n{output[-int(os.environ['BENCH_LOGS']) :]}")
            # The server's maintenance database: the one in DATABASE_URL may not exist.
            admin = Database(SERVER_URL.rsplit("/", 1)[0] + "/postgres", pool_size=1)
            async with admin.engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text(f'drop database if exists "{name}" with (force)'))
            await admin.dispose()
            # And its queues: quorum queues left on the shared broker pile up run after run.
            await remove_topology(AMQP_URL, f"bench.{name}.", set())


if __name__ == "__main__":
    asyncio.run(main())
