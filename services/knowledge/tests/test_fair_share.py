"""One business cannot crowd out the others: its documents and bytes are capped at upload
(413), and its backlog does not delay another business's indexing."""

import asyncio
import uuid
from datetime import datetime
from typing import Any

from knowledge.fairness import FairSlots, TenantQueueFull
from knowledge.main import create_app
from knowledge.settings import KnowledgeSettings
from knowledge.worker import ParserPool
from wa_testing.plugin import TestKeyPair, bearer, running_app


async def test_uploads_beyond_the_business_quota_get_413_and_nothing_is_lost(
    knowledge_settings: KnowledgeSettings, parser_pool: ParserPool, owner: dict[str, str], api: Any
) -> None:
    settings = knowledge_settings.model_copy(
        update={"tenant_max_documents": 2, "tenant_max_document_bytes": 100}
    )
    async with running_app(create_app(settings, pool=parser_pool)) as client:
        first = await api.upload(client, owner, "a.txt", b"Refunds take five days." * 2)  # 46
        assert first.status_code == 202
        too_big = await api.upload(client, owner, "b.txt", b"Delivery takes a week." * 3)  # 66
        assert too_big.status_code == 413
        assert "quota of 100" in too_big.json()["detail"]
        second = await api.upload(client, owner, "c.txt", b"Shipping is free.")
        assert second.status_code == 202
        third = await api.upload(client, owner, "d.txt", b"Open on Sundays.")
        assert third.status_code == 413
        assert "2 documents, the most it may store (2)" in third.json()["detail"]
        # The same bytes again are no new document: still the existing one.
        again = await api.upload(client, owner, "a-again.txt", b"Refunds take five days." * 2)
        assert again.status_code == 202
        assert again.json()["id"] == first.json()["id"]

        listed = (await client.get("/api/documents", headers=owner)).json()["items"]
        assert sorted(d["filename"] for d in listed) == ["a.txt", "c.txt"]
        for doc in (first, second):
            done = await api.wait_settled(client, owner, doc.json()["id"])
            assert done["status"] == "indexed"
        # Room again after a delete.
        await client.delete(f"/api/documents/{first.json()['id']}", headers=owner)
        last = await api.upload(client, owner, "d.txt", b"Open on Sundays.")
        assert last.status_code == 202
        # Settled before the app stops: the outbox relay is idle then (common.outbox's
        # wait_for on Python 3.11 can swallow the stop's cancellation when a wake-up
        # coincides with it, and the teardown would wait forever).
        assert (await api.wait_settled(client, owner, last.json()["id"]))["status"] == "indexed"


async def test_another_business_is_indexed_before_one_business_backlog_finishes(
    knowledge_settings: KnowledgeSettings,
    parser_pool: ParserPool,
    test_keys: TestKeyPair,
    api: Any,
) -> None:
    # A small in-process queue per business: the rest of A's backlog is deferred too.
    settings = knowledge_settings.model_copy(
        update={"index_tenant_queue": 4, "index_defer_s": 0.2, "embeddings_enabled": False}
    )
    tenant_a = bearer(test_keys.token(tenant_id=uuid.uuid4(), role="owner"))
    tenant_b = bearer(test_keys.token(tenant_id=uuid.uuid4(), role="owner"))
    body = "Our return policy, in full detail, for every kind of product we sell. " * 60
    async with running_app(create_app(settings, pool=parser_pool)) as client:
        responses = await asyncio.gather(
            *(api.upload(client, tenant_a, f"a{i}.txt", f"{i} {body}".encode()) for i in range(20))
        )
        assert [r.status_code for r in responses] == [202] * 20
        backlog = [r.json()["id"] for r in responses]
        await asyncio.sleep(0.2)  # A's jobs reach the consumer first
        late = (await api.upload(client, tenant_b, "b.txt", body.encode())).json()["id"]

        b_done = await api.wait_settled(client, tenant_b, late, timeout=60)
        assert b_done["status"] == "indexed"
        a_done = [await api.wait_settled(client, tenant_a, d, timeout=90) for d in backlog]
        assert all(d["status"] == "indexed" for d in a_done)
        b_from = datetime.fromisoformat(b_done["created_at"])
        b_at = datetime.fromisoformat(b_done["indexed_at"])
        # A's documents indexed while B waited (those done before B arrived are not a wait:
        # a fast machine indexes several in the 0.2 s before B's upload).
        before_b = sum(b_from < datetime.fromisoformat(d["indexed_at"]) < b_at for d in a_done)
        # B waited for at most the document being parsed and the next one, not for 20.
        assert before_b <= 3, before_b


async def test_fair_slots_serve_the_business_served_longest_ago_and_cap_its_queue() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    slots = FairSlots(1, max_waiting_per_tenant=2)
    order: list[str] = []
    release = asyncio.Event()

    async def job(tenant: uuid.UUID, name: str) -> None:
        async with slots.slot(tenant):
            order.append(name)
            if name == "a1":
                await release.wait()

    first = asyncio.create_task(job(a, "a1"))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(job(a, f"a{i}")) for i in (2, 3)]
    await asyncio.sleep(0)
    try:
        await job(a, "a4")
        raise AssertionError("a fourth document of A should not wait")
    except TenantQueueFull:
        pass
    late = asyncio.create_task(job(b, "b1"))
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, late, *waiting)
    assert order == ["a1", "b1", "a2", "a3"]
