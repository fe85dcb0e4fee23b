"""The broker goes away under load, and comes back: every consumer of every service is
consuming again within 10 s of the broker accepting connections, with no operator action;
nothing is lost or done twice; `/health` says 503 while the broker is away (and which part),
200 once everything is back."""

import asyncio
import time
from typing import Any

import pytest

from common.dlq import known_consumers
from wa_testing.plugin import eventually

Platform = Any  # tests/faults/conftest.py's Platform (test modules cannot import conftest)

# The shared platform (conftest.py) serves its fakes on the package's event loop.
pytestmark = [pytest.mark.faults, pytest.mark.asyncio(loop_scope="package")]


async def consumers_back_within(platform: Platform, seconds: float) -> float:
    start = time.monotonic()

    async def back() -> bool:
        return await platform.consumers_missing() == []

    await eventually(back, timeout=seconds, interval=0.25)
    return time.monotonic() - start


async def every_health_503(platform: Platform) -> bool:
    health = await platform.health()
    return all(
        code == 503 and body["checks"].get("broker") == "down" for code, body in health.values()
    )


@pytest.mark.parametrize("fault", ["stop_app", "kill"])
async def test_the_platform_recovers_from_a_broker_restart_under_load(
    platform: Platform, fault: str
) -> None:
    broker = platform.broker

    # Every service's consumers are registered for the dead-letter tools, and the broker
    # sees each of them before the fault.
    async def consumed() -> set[str]:
        counts = await asyncio.to_thread(broker.consumers)
        return {
            q.removeprefix(platform.prefix)
            for q, n in counts.items()
            if q.startswith(platform.prefix) and n and ".retry." not in q and not q.endswith(".dlq")
        }

    registered = set(known_consumers())
    await eventually(lambda: _equal(consumed(), registered), timeout=10, interval=0.5)

    # 12 s of load; the broker goes away after 2 s, for about 5 s.
    load_task = asyncio.create_task(platform.run_load(96, rate_per_s=8))
    await asyncio.sleep(2)
    if fault == "stop_app":
        await asyncio.to_thread(broker.stop_app)
    else:
        await asyncio.to_thread(broker.kill)
    await eventually(lambda: every_health_503(platform), timeout=10, interval=0.2)
    await asyncio.sleep(4)  # the broker stays away while webhooks keep coming
    assert await every_health_503(platform)
    if fault == "stop_app":
        await asyncio.to_thread(broker.start_app)
    else:
        await asyncio.to_thread(broker.start)
    recovered_in = await consumers_back_within(platform, 10)
    print(f"{fault}: every consumer back on the broker {recovered_in:.1f} s after it opened")

    load = await load_task
    await platform.assert_exactly_once(load)
    print(
        f"{fault}: {load.customers} customers, {load.redelivered} redelivered, "
        f"{load.attempts} webhook POSTs, longest until 200: {load.max_retry_s:.1f} s"
    )


async def _equal(got: "asyncio.Future[set[str]] | Any", expected: set[str]) -> bool:
    return await got == expected
