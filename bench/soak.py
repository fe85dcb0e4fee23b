"""Soak: the whole platform at a steady rate end to end (signed webhook -> stored -> answered
-> sent to the fake Graph API) for SOAK_SECONDS, with a broker restart and a database restart
in the middle, on a RabbitMQ node and a Postgres cluster of its own.

Prints: customers sent, lost (never answered), stored twice, answered twice, failed; each
fault's recovery time; queue depths at the end (must be 0); each service's RSS at start and
end.

    .venv/bin/python bench/soak.py                    # 10 minutes, 2 customers/s
    SOAK_SECONDS=120 SOAK_RATE=4 .venv/bin/python bench/soak.py
"""

import asyncio
import os
import time
from pathlib import Path

from common.logging import configure_logging
from wa_testing.platform import Platform, running_platform, tally, wait_settled
from wa_testing.servers import PrivatePostgres, PrivateRabbitMQ

SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
RATE = float(os.environ.get("SOAK_RATE", "2"))
OUTAGE_S = 6.0


def rss_mib(platform: Platform) -> dict[str, float]:
    sizes = {}
    for name, service in platform.processes.items():
        assert service.process is not None
        status = Path(f"/proc/{service.process.pid}/status").read_text()
        kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
        sizes[name] = round(kib / 1024, 1)
    return sizes


async def until(check, timeout: float = 120) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > timeout:
            return float("inf")
        await asyncio.sleep(0.25)
    return time.monotonic() - start


async def soak(broker: PrivateRabbitMQ, postgres: PrivatePostgres) -> None:
    async with running_platform(broker, postgres, echo_logs=False) as platform:
        rss_start = rss_mib(platform)
        customers = int(SECONDS * RATE)
        print(f"soak: {customers} customers over {SECONDS:.0f} s ({RATE}/s)", flush=True)
        started = time.monotonic()
        load_task = asyncio.create_task(platform.run_load(customers, rate_per_s=RATE))

        async def at(fraction: float) -> None:
            await asyncio.sleep(max(0.0, started + SECONDS * fraction - time.monotonic()))

        async def consumers_back() -> bool:
            return await platform.consumers_missing() == []

        async def all_healthy() -> bool:
            return all(code == 200 for code, _ in (await platform.health()).values())

        await at(0.3)
        await asyncio.to_thread(broker.stop_app)
        await asyncio.sleep(OUTAGE_S)
        await asyncio.to_thread(broker.start_app)
        broker_recovery = await until(consumers_back)
        print(f"broker restart: every consumer back in {broker_recovery:.1f} s", flush=True)

        await at(0.6)
        await asyncio.to_thread(postgres.stop, "fast")
        await asyncio.sleep(OUTAGE_S)
        await asyncio.to_thread(postgres.start)
        db_recovery = await until(all_healthy)
        print(f"database restart: every /health 200 again in {db_recovery:.1f} s", flush=True)

        load = await load_task
        await wait_settled(platform, load, timeout=120)
        await asyncio.sleep(3)
        result = await tally(platform, load)
        depths = await platform.queue_depths()
        rss_end = rss_mib(platform)
        print(f"customers: {load.customers} ({load.redelivered} webhooks delivered twice)")
        print(f"webhook POSTs: {load.attempts}, longest until 200: {load.max_retry_s:.1f} s")
        lost = set(result.unanswered) - set(result.failed_unsent)
        print(f"lost (neither answered nor visibly failed): {len(lost)}")
        print(f"stored other than once: {len(result.stored_wrong)}")
        print(f"answered twice: {len(result.answered_twice)}")
        print(
            f"outbound failed (visibly): {result.outbound_failed} ({len(result.failed_unsent)} "
            f"never sent, outcome unknown), still queued: "
            f"{result.outbound_queued}"
        )
        print(f"recovery: broker {broker_recovery:.1f} s, database {db_recovery:.1f} s")
        print(f"queue depths at the end: {depths or 0}")
        for name in rss_start:
            print(f"rss {name}: {rss_start[name]} MiB -> {rss_end[name]} MiB")


def main() -> None:
    configure_logging(service="soak", environment="test", level="WARNING")
    broker = PrivateRabbitMQ().start()
    postgres = PrivatePostgres().init()
    postgres.start()
    try:
        asyncio.run(soak(broker, postgres))
    finally:
        broker.close()
        postgres.close()


if __name__ == "__main__":
    main()
