"""The bus and outbox on this machine: confirmed publishes/s and idempotent consumption/s.

make bench            (uses DATABASE_URL / AMQP_URL; creates and drops its own database)
"""

import asyncio
import os
import time
import uuid

from sqlalchemy import text

from common.bus import Bus, Subscription
from common.db import Database, ensure_database, make_metadata
from common.events import Envelope, WhatsAppWebhookUnhandledPayload, WhatsAppWebhookUnhandledV1
from common.idempotency import idempotent, processed_events_table
from common.outbox import OutboxRelay, add_event, outbox_table

N = int(os.environ.get("BENCH_EVENTS", "5000"))
AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/")
SERVER_URL = os.environ.get(
    "DATABASE_URL", "postgresql+asyncpg://postgres@localhost:5432/whatsapp_ai"
)


def event(i: int) -> WhatsAppWebhookUnhandledV1:
    return WhatsAppWebhookUnhandledV1(
        payload=WhatsAppWebhookUnhandledPayload(field="bench", reason="bench", value={"i": i})
    )


async def main() -> None:
    prefix = f"bench.{uuid.uuid4().hex[:8]}."
    db_name = f"wa_bench_{uuid.uuid4().hex[:8]}"
    db_url = SERVER_URL.rsplit("/", 1)[0] + f"/{db_name}"
    await ensure_database(db_url)
    db = Database(db_url, pool_size=10)
    metadata = make_metadata("bench")
    outbox, processed = outbox_table(metadata), processed_events_table(metadata)
    async with db.engine.begin() as conn:
        await conn.execute(text("create schema bench"))
        await conn.run_sync(metadata.create_all)
    bus = Bus(AMQP_URL, prefix=prefix, service="bench", prefetch=64)
    await bus.connect()
    total = N // 10 + N + N  # what the three publishing phases below send
    done = asyncio.Event()
    count = 0

    async def handle(session: object, e: Envelope) -> None:
        nonlocal count
        count += 1
        if count == total:
            done.set()

    consumer = "bench.consumer"
    subscription = Subscription(
        consumer, ("whatsapp.webhook.unhandled.v1",), idempotent(db, processed, consumer, handle)
    )
    await bus.declare(subscription)  # the queue fills now; it is drained at the end
    try:
        start = time.perf_counter()
        for i in range(N // 10):
            await bus.publish(event(i))
        one_by_one = (N // 10) / (time.perf_counter() - start)

        start = time.perf_counter()
        for batch in range(0, N, 500):
            await bus.publish_many(event(i) for i in range(batch, batch + 500))
        pipelined = N / (time.perf_counter() - start)

        # The outbox path: N rows committed in transactions of 50, relayed with confirms.
        relay = OutboxRelay(db, outbox, bus, poll_interval=0.05, batch_size=500)
        relay.start()
        start = time.perf_counter()
        for batch in range(0, N, 50):
            async with db.session() as session:
                for i in range(batch, batch + 50):
                    await add_event(session, outbox, event(i))
        written = time.perf_counter() - start
        while True:
            async with db.sessionmaker() as s:
                left = await s.scalar(
                    text("select count(*) from bench.outbox where published_at is null")
                )
            if not left:
                break
            await asyncio.sleep(0.05)
        relayed = N / (time.perf_counter() - start)
        await relay.stop()

        consume_start = time.perf_counter()
        await bus.subscribe(subscription)
        await asyncio.wait_for(done.wait(), timeout=600)
        consumed = total / (time.perf_counter() - consume_start)
        print(f"events: {N} ({os.cpu_count()} cores)")
        print(f"publish, one confirmed at a time:   {one_by_one:8.0f} events/s")
        print(f"publish, pipelined batches of 500:  {pipelined:8.0f} events/s")
        print(
            f"outbox write ({N / written:.0f} rows/s) + relay: {relayed:8.0f} events/s end to end"
        )
        print(
            f"idempotent consumption (claim + commit + ack per event, prefetch 64): "
            f"{consumed:8.0f} events/s over {total} events"
        )
    finally:
        await bus.delete_topology([consumer])
        await bus.close()
        await db.dispose()
        admin = Database(SERVER_URL, pool_size=1)
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'drop database if exists "{db_name}" with (force)'))
        await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
