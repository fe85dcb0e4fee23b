"""Indexing never leaves a document stuck: a dead worker is retried, a hung one is failed,
an abandoned lease is picked up by the sweeper, and a file that keeps killing its worker
ends `failed` with a reason."""

import os
import signal
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text, update

from common.db import Database
from knowledge.main import create_app
from knowledge.models import Document
from knowledge.settings import KnowledgeSettings
from knowledge.worker import ParserPool
from wa_testing.plugin import eventually, running_app

LONG = [
    (f"Chapter {i}", "Our policies explained in plain words, one more time. " * 40)
    for i in range(40)
]


@pytest.fixture
async def db(knowledge_settings: KnowledgeSettings) -> AsyncIterator[Database]:
    database = Database(knowledge_settings.database_url, pool_size=2)
    yield database
    await database.dispose()


async def row(db: Database, doc_id: str) -> Document:
    async with db.sessionmaker() as session:
        return (
            await session.execute(select(Document).where(Document.id == uuid.UUID(doc_id)))
        ).scalar_one()


async def test_a_worker_killed_mid_parse_is_retried_and_the_document_indexed(
    knowledge_settings: KnowledgeSettings,
    owner: dict[str, str],
    api: Any,
    make: SimpleNamespace,
    db: Database,
) -> None:
    pool = ParserPool(workers=1)  # its own: this test kills its processes
    try:
        async with running_app(create_app(knowledge_settings, pool=pool)) as client:
            await pool.warm()  # the kill below hits the parse, not the warm-up
            response = await api.upload(client, owner, "long.pdf", make.pdf(LONG))
            doc_id = response.json()["id"]

            async def leased() -> bool:
                return (await row(db, doc_id)).lease_id is not None

            await eventually(leased, timeout=30)
            for pid in pool.processes():  # the crash
                os.kill(pid, signal.SIGKILL)
            done = await api.wait_settled(client, owner, doc_id, timeout=90)
            assert done["status"] == "indexed", done
            assert done["chunk_count"] >= 20
            stored = await row(db, doc_id)
            assert stored.attempts == 2
            assert stored.lease_id is None
    finally:
        pool.close()


async def test_a_parse_that_hangs_past_the_timeout_ends_failed(
    knowledge_settings: KnowledgeSettings, owner: dict[str, str], api: Any, make: SimpleNamespace
) -> None:
    pool = ParserPool(workers=1)
    # A warm worker parses a 40-chapter PDF in well over 0.1 s (and a 10-chapter one, once,
    # under 0.5 s: the deadline must be far below the parse, not near it).
    settings = knowledge_settings.model_copy(update={"parse_timeout_s": 0.1})
    try:
        async with running_app(create_app(settings, pool=pool)) as client:
            response = await api.upload(client, owner, "slow.pdf", make.pdf(LONG))
            done = await api.wait_settled(client, owner, response.json()["id"])
            assert done["status"] == "failed"
            assert done["error"].startswith("Reading the file took longer than 0 s")
    finally:
        pool.close()


async def abandon(db: Database, doc_id: str, attempts: int) -> None:
    """What a worker that died holding the lease leaves behind."""
    async with db.session() as session:
        await session.execute(
            update(Document)
            .where(Document.id == uuid.UUID(doc_id))
            .values(
                status="processing",
                lease_id=uuid.uuid4(),
                leased_until=text("now() - interval '1 second'"),
                attempts=attempts,
            )
        )


async def test_the_sweeper_retries_an_abandoned_document_then_fails_it_when_spent(
    client: httpx.AsyncClient,
    owner: dict[str, str],
    api: Any,
    db: Database,
    knowledge_settings: KnowledgeSettings,
) -> None:
    first = (await api.upload(client, owner, "a.txt", b"Alpha passage about refunds.")).json()["id"]
    second = (await api.upload(client, owner, "b.txt", b"Beta passage about delivery.")).json()[
        "id"
    ]
    for doc_id in (first, second):
        assert (await api.wait_settled(client, owner, doc_id))["status"] == "indexed"

    await abandon(db, first, attempts=1)  # retries left: indexed again
    await abandon(db, second, attempts=knowledge_settings.index_max_attempts)  # spent: failed
    retried = await api.wait_settled(client, owner, first)
    spent = await api.wait_settled(client, owner, second)
    assert retried["status"] == "indexed"
    assert spent["status"] == "failed"
    assert spent["error"] == (
        f"Indexing did not finish after {knowledge_settings.index_max_attempts} attempts "
        "(the parser stopped responding on this file)."
    )
    found = await client.get("/api/knowledge/search", params={"q": "delivery"}, headers=owner)
    # A failed document has no passages left.
    assert second not in {r["document_id"] for r in found.json()["results"]}
