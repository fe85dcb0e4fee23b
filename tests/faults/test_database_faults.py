"""Postgres restarts under load: handlers whose transaction did not commit are retried (never
acked), the pools recover, nothing is lost or stored twice, `/health` says so meanwhile."""

import asyncio
import time
from typing import Any

import pytest

from wa_testing.plugin import eventually

# The shared platform (conftest.py) serves its fakes on the package's event loop.
pytestmark = [pytest.mark.faults, pytest.mark.asyncio(loop_scope="package")]

Platform = Any  # tests/faults/conftest.py's Platform (test modules cannot import conftest)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_the_platform_recovers_from_a_database_restart_under_load(
    platform: Platform, mode: str
) -> None:
    load_task = asyncio.create_task(platform.run_load(60, rate_per_s=15))
    await asyncio.sleep(1.5)
    # `fast` ends every session (open transactions roll back); `immediate` is a crash.
    await asyncio.to_thread(platform.postgres.stop, mode)
    stopped_at = time.monotonic()
    try:

        async def database_down_reported() -> bool:
            health = await platform.health()
            return all(
                code == 503 and body["checks"].get("database") == "down"
                for name, (code, body) in health.items()
                if name != "gateway"  # the gateway has no database
            )

        try:
            await eventually(database_down_reported, timeout=10, interval=0.2)
        except AssertionError:
            health = await platform.health()
            raise AssertionError(f"health while the database is down: {health}") from None
        await asyncio.sleep(max(0.0, 4 - (time.monotonic() - stopped_at)))
    finally:
        await asyncio.to_thread(platform.postgres.start)

    load = await load_task
    await platform.assert_exactly_once(load)
    print(
        f"postgres {mode} restart: {load.customers} customers, longest until 200: "
        f"{load.max_retry_s:.1f} s"
    )
