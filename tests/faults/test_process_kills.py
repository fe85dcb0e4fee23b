"""A service SIGKILLed mid-message under load, then restarted: every event is processed
exactly once (claims), every customer answered once (or the message visibly failed)."""

import asyncio
import random
from typing import Any

import httpx
import pytest

from wa_testing.plugin import eventually

# The shared platform (conftest.py) serves its fakes on the package's event loop.
pytestmark = [pytest.mark.faults, pytest.mark.asyncio(loop_scope="package")]

Platform = Any  # tests/faults/conftest.py's Platform (test modules cannot import conftest)


@pytest.mark.parametrize(
    "service",
    [
        "ingest",
        "responder",
        "knowledge",
    ],
)
async def test_a_service_killed_mid_message_loses_and_doubles_nothing(
    platform: Platform, service: str
) -> None:
    rng = random.Random(service)  # reproducible "random" points
    load_task = asyncio.create_task(platform.run_load(60, rate_per_s=15))
    indexing = None
    if service == "knowledge":
        indexing = await upload(platform, "Returns\n\nBikes can be returned within 30 days.")
    await asyncio.sleep(rng.uniform(0.5, 2.5))
    await asyncio.to_thread(platform.kill, service)
    await platform.astart(service)
    load = await load_task
    await platform.assert_exactly_once(load)
    if indexing is not None:
        await indexed_once(platform, indexing)


async def upload(platform: Platform, text: str) -> str:
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(
            f"{platform.url('knowledge')}/api/documents",
            headers=platform.owner,
            files={"file": ("returns.txt", text.encode(), "text/plain")},
        )
        assert r.status_code in (201, 202), r.text
        return str(r.json()["id"])


async def indexed_once(platform: Platform, document_id: str) -> None:
    async with httpx.AsyncClient(timeout=30) as client:

        async def indexed() -> bool:
            r = await client.get(
                f"{platform.url('knowledge')}/api/documents/{document_id}",
                headers=platform.owner,
            )
            return r.json()["status"] == "indexed"

        await eventually(indexed, timeout=60, interval=0.3)
    [row] = await platform.sql(
        "select count(*) as n, count(distinct position) as positions from knowledge.chunks "
        f"where document_id = '{document_id}'"
    )
    assert row["n"] >= 1
    assert row["n"] == row["positions"]  # indexed once, not once per attempt


async def test_ingest_killed_after_meta_accepted_a_send_records_it_once(
    platform: Platform,
) -> None:
    """The narrowest window: Meta has accepted the send, the worker dies before recording it.
    Meta has no idempotency key, so the restarted worker must not send again; Meta's status
    webhook (echoing our message id) tells it the send happened."""
    first: list[str] = []

    async def die_once_meta_accepted(request: Any) -> None:
        if not first:
            first.append(request.json["to"])
            await asyncio.to_thread(platform.kill, "ingest")

    platform.send_hook = die_once_meta_accepted
    try:
        load = await platform.run_load(3, rate_per_s=5)

        async def killed() -> bool:
            return bool(first)

        await eventually(killed, timeout=60, interval=0.2)
        await platform.astart("ingest")
        await platform.assert_exactly_once(load)
    finally:
        platform.send_hook = None
    [row] = await platform.sql(
        "select m.status, m.wamid from ingest.messages m "
        "join ingest.conversations c on c.id = m.conversation_id "
        "join ingest.contacts k on k.id = c.contact_id "
        f"where m.direction = 'outbound' and k.wa_id = '{first[0]}'"
    )
    assert row["status"] == "sent" and row["wamid"], dict(row)  # repaired, not failed
    assert sum(1 for r in platform.graph.sends() if r.json.get("to") == first[0]) == 1
