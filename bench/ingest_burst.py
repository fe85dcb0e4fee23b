"""ingest on one process: stored messages/s and the time to drain a burst of 10,000 inbound
messages (1,000 customers x 10) waiting in its queue, each stored exactly once with its contact,
conversation and outbox events.

make bench   (uses DATABASE_URL / AMQP_URL; creates and drops its own database)
BENCH_MESSAGES=10000 BENCH_CUSTOMERS=1000 to change the burst; BENCH_PROFILE=<file> records
ingest with py-spy (raw collapsed stacks) while it drains.
"""

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from common.bus import Bus
from common.db import Database, ensure_database
from common.events import (
    WhatsAppContact,
    WhatsAppMessageReceivedPayload,
    WhatsAppMessageReceivedV1,
    whatsapp_message_event_id,
)
from common.migrations import upgrade
from wa_testing.plugin import ServiceProcess, remove_topology, text_message

MESSAGES = int(os.environ.get("BENCH_MESSAGES", "10000"))
CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", "1000"))
# Ingest scales out as competing consumers on its queue (`--scale ingest=N` in compose).
REPLICAS = int(os.environ.get("BENCH_INGEST_REPLICAS", "1"))
AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/")
SERVER_URL = os.environ.get(
    "DATABASE_URL", "postgresql+asyncpg://postgres@localhost:5432/whatsapp_ai"
)
INGEST_DIR = Path(__file__).resolve().parent.parent / "services" / "ingest"
PNID = "106540352242922"


def event(i: int, run: str) -> WhatsAppMessageReceivedV1:
    wamid = f"wamid.{run}.{i}"
    customer = f"1650555{i % CUSTOMERS:04d}"
    at = datetime.fromtimestamp(1767268800 + i, tz=UTC)
    return WhatsAppMessageReceivedV1(
        event_id=whatsapp_message_event_id(wamid),
        payload=WhatsAppMessageReceivedPayload(
            phone_number_id=PNID,
            wamid=wamid,
            type="text",
            timestamp=at,
            contact=WhatsAppContact(wa_id=customer, name=f"Customer {i % CUSTOMERS}"),
            message=text_message(wamid, customer, f"Olá 👋 message {i}", timestamp=1767268800 + i),
        ),
    )


def start_logged(service: ServiceProcess, log_path: Path) -> None:
    with open(log_path, "wb") as log_file:
        service.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                service.factory,
                "--port",
                str(service.port),
                "--no-access-log",
            ],
            env=service.env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile(pid: int) -> subprocess.Popen[bytes] | None:
    """py-spy on `pid` into BENCH_PROFILE (collapsed stacks), when asked for."""
    path = os.environ.get("BENCH_PROFILE")
    if not path:
        return None
    spy = Path(sys.executable).parent / "py-spy"
    cmd = [str(spy), "record", "-p", str(pid), "-r", "200", "--format", "raw", "-o", path]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def main() -> None:
    run = uuid.uuid4().hex[:6]
    prefix = f"bench.{run}."
    db_url = SERVER_URL.rsplit("/", 1)[0] + f"/wa_bench_{run}"
    await ensure_database(db_url)
    await asyncio.to_thread(upgrade, INGEST_DIR, db_url)
    db = Database(db_url, pool_size=2)
    async with db.session() as s:
        await s.execute(
            text(
                "insert into ingest.channels (id, tenant_id, phone_number_id) values (:i, :t, :p)"
            ),
            {"i": uuid.uuid4(), "t": uuid.uuid4(), "p": PNID},
        )
    env = {
        "DATABASE_URL": db_url,
        "AMQP_URL": AMQP_URL,
        "BUS_PREFIX": prefix,
        "ENVIRONMENT": "test",
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        # No auth here: inline (empty) keys, so ingest has no revocation list to sync before
        # it is healthy.
        "AUTH_JWKS_JSON": '{"keys": []}',
    }
    from ingest.main import consumer_names

    try:
        # First start declares the queues; the burst then waits in them while ingest is down.
        ServiceProcess("ingest.main:create_app", env).start().stop()
        bus = Bus(AMQP_URL, prefix=prefix, service="bench")
        await bus.connect()
        events = [event(i, run) for i in range(MESSAGES)]
        for start in range(0, MESSAGES, 500):
            await bus.publish_many(events[start : start + 500], mandatory=True)
        await bus.close()

        began = time.perf_counter()
        replicas = [ServiceProcess("ingest.main:create_app", env) for _ in range(REPLICAS)]
        log_paths = []
        for n, replica in enumerate(replicas):
            # Its output goes to a file: an unread pipe that fills up would stall the service.
            log_paths.append(Path(tempfile.gettempdir()) / f"ingest-bench-{run}-{n}.log")
            start_logged(replica, log_paths[-1])
        pids = [replica.process.pid for replica in replicas]

        def cpu() -> float:
            return sum(cpu_seconds(pid) for pid in pids)

        profiler = profile(pids[0])
        cpu_at_start = None
        try:
            while True:
                async with db.sessionmaker() as s:
                    row = (
                        await s.execute(
                            text(
                                "select count(*) n, min(stored_at) first, max(stored_at) last "
                                "from ingest.messages"
                            )
                        )
                    ).one()
                if cpu_at_start is None and row.n:
                    cpu_at_start = cpu()  # start-up is over
                if row.n >= MESSAGES:
                    break
                if time.perf_counter() - began > 600:
                    raise RuntimeError(f"only {row.n} stored after 600 s")
                await asyncio.sleep(0.2)
            wall = time.perf_counter() - began
            drain = (row.last - row.first).total_seconds()
            assert cpu_at_start is not None
            cpu_stored = cpu() - cpu_at_start
            while True:  # the outbox relay publishing what was stored
                async with db.sessionmaker() as s:
                    left = await s.scalar(
                        text("select count(*) from ingest.outbox where published_at is null")
                    )
                if not left:
                    break
                await asyncio.sleep(0.2)
            relayed = time.perf_counter() - began
            cpu_all = cpu() - cpu_at_start
        finally:
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                profiler.wait()
            for replica in replicas:
                replica.process.terminate()
            for replica in replicas:
                replica.process.wait(timeout=30)
            print(f"ingest's logs: {', '.join(map(str, log_paths))}")
        async with db.sessionmaker() as s:
            conversations = await s.scalar(text("select count(*) from ingest.conversations"))
            outboxed = await s.scalar(text("select count(*) from ingest.outbox"))
        print(f"ingest replicas: {REPLICAS} (BENCH_INGEST_REPLICAS)")
        print(
            f"ingest: {MESSAGES:,} queued messages stored in {drain:.1f} s "
            f"(first to last stored) = {MESSAGES / drain:,.0f} stored messages/s "
            "(target >= 1,000)"
        )
        print(
            f"ingest: burst drained {wall:.1f} s after the process started (start-up included); "
            f"{outboxed:,} outbox events all published after {relayed:.1f} s; "
            f"{conversations:,} conversations"
        )
        print(
            f"ingest CPU from its first stored message: {cpu_stored:.1f} s until all were "
            f"stored, {cpu_all:.1f} s until every event was published = "
            f"{1000 * cpu_all / MESSAGES:.2f} ms per message (steadier than wall time on a "
            "shared machine)"
        )
    finally:
        await db.dispose()
        await remove_topology(AMQP_URL, prefix, set(consumer_names()))
        import asyncpg

        # The server's maintenance database: the one in DATABASE_URL may not exist.
        conn = await asyncpg.connect(
            SERVER_URL.replace("+asyncpg", "").rsplit("/", 1)[0] + "/postgres"
        )
        try:
            await conn.execute(f'drop database if exists "wa_bench_{run}" with (force)')
        finally:
            await conn.close()
        print(f"cores: {os.cpu_count()} (ingest, Postgres and the broker share them)")


if __name__ == "__main__":
    asyncio.run(main())
