"""The embedding matrices' cache: bounded in bytes, one load per cold tenant however many
searches ask at once, and the event loop free while a big tenant loads."""

import asyncio
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator

import numpy as np
import pytest
from sqlalchemy import text as sql

from common.db import Database
from knowledge import embeddings
from knowledge.embeddings import DIMENSIONS, MatrixCache, TenantMatrix, build_matrix
from knowledge.service import Searcher
from knowledge.settings import KnowledgeSettings

MIB = 1024 * 1024


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, DIMENSIONS)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def synthetic(rows: int, version: int = 1) -> TenantMatrix:
    ids = b"".join(uuid.uuid4().bytes for _ in range(rows))
    return build_matrix(version, [(ids, unit_vectors(rows).astype(np.float16).tobytes())])


def test_the_cache_never_holds_more_than_its_byte_bound() -> None:
    cache = MatrixCache(max_bytes=5 * MIB)
    sizes = np.random.default_rng(1).integers(1, 1500, size=300)
    for i, rows in enumerate(sizes):
        tenant = uuid.uuid4()
        item = cache.put(tenant, synthetic(int(rows)))
        held = list(cache._items.values())
        assert cache.bytes == sum(m.nbytes for m in held) <= cache.max_bytes, i
        assert cache.get(tenant, 1) is item  # the newest always fits (each is < the bound)
    assert 1 < len(cache) < 300

    # A matrix larger than the whole bound is handed back, not kept.
    huge = synthetic(3000)
    assert huge.nbytes > cache.max_bytes
    assert cache.put(uuid.uuid4(), huge) is huge and cache.bytes <= cache.max_bytes


def test_a_matrix_costs_what_the_cache_counts_and_finds_its_rows() -> None:
    rows = 20_000
    chunk_ids = [uuid.uuid4() for _ in range(rows)]  # random: not in byte order
    vectors = unit_vectors(rows).astype(np.float16)
    pieces = [
        (b"".join(c.bytes for c in chunk_ids[i : i + 2048]), vectors[i : i + 2048].tobytes())
        for i in range(0, rows, 2048)
    ]
    tracemalloc.start()
    try:
        item = build_matrix(1, pieces)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert item.matrix.shape == (rows, DIMENSIONS) and len(item) == rows
    assert held <= item.nbytes < held * 1.01, (held, item.nbytes)
    # Sorted for the lookup, each id still on its own vector.
    for i in (0, 1, 777, rows - 1):
        row = item.row_of(chunk_ids[i])
        assert row is not None and item.chunk_id(row) == chunk_ids[i]
        assert np.array_equal(item.matrix[row], vectors[i].astype(np.float32))
    assert item.row_of(uuid.uuid4()) is None


async def test_concurrent_loads_of_a_key_are_single_flighted() -> None:
    cache = MatrixCache(max_bytes=10 * MIB)
    tenant = uuid.uuid4()
    release = asyncio.Event()
    calls = 0

    async def load() -> TenantMatrix:
        nonlocal calls
        calls += 1
        await release.wait()
        return synthetic(10)

    searches = [asyncio.create_task(cache.get_or_load(tenant, 1, load)) for _ in range(20)]
    await asyncio.sleep(0.05)  # every search is now waiting (nothing to poll for)
    assert calls == 1
    release.set()
    results = await asyncio.gather(*searches)
    assert all(r is results[0] for r in results) and calls == 1 == cache.loads

    # The loader's search is cancelled (client gone): a waiting one loads instead.
    release.clear()
    loader = asyncio.create_task(cache.get_or_load(tenant, 2, load))
    await asyncio.sleep(0.01)
    waiter = asyncio.create_task(cache.get_or_load(tenant, 2, load))
    await asyncio.sleep(0.01)
    loader.cancel()
    await asyncio.sleep(0.01)
    release.set()
    assert (await waiter).version == 1 and calls == 3  # synthetic() is version 1
    with pytest.raises(asyncio.CancelledError):
        await loader

    # A failed load fails its waiters too, and the next search tries again.
    async def broken() -> TenantMatrix:
        await asyncio.sleep(0.01)
        raise RuntimeError("database away")

    failing = [asyncio.create_task(cache.get_or_load(tenant, 3, broken)) for _ in range(3)]
    outcomes = await asyncio.gather(*failing, return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert (await cache.get_or_load(tenant, 3, load)) is not None


async def seed(db: Database, tenant: uuid.UUID, rows: int) -> None:
    """A tenant of `rows` chunks with real-looking unit embeddings, written by Postgres
    (64 distinct vectors, cycled)."""
    base = unit_vectors(64, seed=7).astype(np.float16).tobytes()
    document = uuid.uuid4()
    async with db.session() as session:
        await session.execute(
            sql(
                "insert into knowledge.documents (id, tenant_id, filename, content_type,"
                " file_type, size_bytes, sha256, content, status, chunk_count, attempts,"
                " language) values (:d, :t, 'big.txt', 'text/plain', 'txt', 1, 'x', '',"
                " 'indexed', :n, 1, 'en')"
            ),
            {"d": document, "t": tenant, "n": rows},
        )
        await session.execute(
            sql(
                "insert into knowledge.chunks (id, tenant_id, document_id, position, text,"
                " language, tsv) select gen_random_uuid(), :t, :d, i, 'passage ' || i,"
                " 'english', to_tsvector('english', 'passage ' || i)"
                " from generate_series(1, :n) i"
            ),
            {"d": document, "t": tenant, "n": rows},
        )
        await session.execute(
            sql(
                "insert into knowledge.chunk_embeddings (chunk_id, tenant_id, embedding)"
                " select id, tenant_id, substring(cast(:base as bytea)"
                " from (position % 64) * 1024 + 1 for 1024)"
                " from knowledge.chunks where tenant_id = :t"
            ),
            {"t": tenant, "base": base},
        )
        await session.execute(
            sql("insert into knowledge.corpus_versions (tenant_id, version) values (:t, 1)"),
            {"t": tenant},
        )


@pytest.fixture
async def db(knowledge_settings: KnowledgeSettings) -> AsyncIterator[Database]:
    database = Database(knowledge_settings.database_url, pool_size=10)
    yield database
    await database.dispose()


async def test_twenty_concurrent_searches_of_a_cold_tenant_load_it_once(
    knowledge_settings: KnowledgeSettings, db: Database
) -> None:
    tenant = uuid.uuid4()
    await seed(db, tenant, 3000)
    searcher = Searcher(knowledge_settings, MatrixCache())

    async def search() -> list[uuid.UUID]:
        async with db.session() as session:
            results = await searcher.search(session, tenant, "how long is the warranty", 5)
        return [r.chunk_id for r in results]

    found = await asyncio.gather(*(search() for _ in range(20)))
    assert searcher.cache.loads == 1
    assert len(found[0]) == 5 and all(f == found[0] for f in found)
    assert searcher.cache.get(tenant, 1) is not None
    assert searcher.cache.get(tenant, 1).matrix.shape == (3000, DIMENSIONS)  # type: ignore[union-attr]


async def test_the_event_loop_stays_responsive_while_a_big_tenant_loads(
    knowledge_settings: KnowledgeSettings, db: Database
) -> None:
    tenant = uuid.uuid4()
    rows = 60_000  # 60 MB of float16 in Postgres, 123 MB of float32 once loaded
    await seed(db, tenant, rows)
    searcher = Searcher(knowledge_settings, MatrixCache())
    await asyncio.to_thread(embeddings.encode_query, "warm the model up first")

    gaps: list[float] = []
    stop = asyncio.Event()

    async def heartbeat() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    beat = asyncio.create_task(heartbeat())
    started = time.perf_counter()
    async with db.session() as session:
        results = await searcher.search(session, tenant, "how long is the warranty", 5)
    took = time.perf_counter() - started
    stop.set()
    await beat
    assert len(results) == 5 and searcher.cache.loads == 1
    worst = max(gaps)
    print(f"\ncold load of {rows} chunks: {took * 1000:.0f} ms, worst gap {worst * 1000:.0f} ms")
    assert worst < 0.1, f"the event loop was blocked {worst * 1000:.0f} ms"
