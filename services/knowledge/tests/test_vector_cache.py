"""The tenants' cache (embedding matrix + keyword index): bounded in bytes, one load per
cold tenant however many searches ask at once, and the event loop free while a big tenant
loads and its keyword index is built."""

import asyncio
import gc
import math
import random
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator

import numpy as np
import pytest
from sqlalchemy import text as sql

from common.db import Database
from knowledge import e5, embeddings, lexical
from knowledge.embeddings import DIMENSIONS, MatrixCache, TenantMatrix, build_matrix
from knowledge.lexical import LexicalIndex
from knowledge.search import Searcher
from knowledge.settings import KnowledgeSettings

MIB = 1024 * 1024


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, DIMENSIONS)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


WORDS = [f"{a}{b}{c}" for a in ("ka", "lo", "mi", "ter") for b in ("san", "pro", "vel")
         for c in ("dor", "qui", "ne", "ra", "tis", "bel", "mon", "zu")]  # fmt: skip


def passages(rows: int, seed: int = 0) -> list[str]:
    """Passages of 30-80 words drawn with a Zipf-like skew, as in real text."""
    rng = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(WORDS))]
    return [
        " ".join(rng.choices(WORDS, weights, k=rng.randint(30, 80))) + f" item{i}"
        for i in range(rows)
    ]


def joined(texts: list[str]) -> bytes:
    return "\0".join(texts).encode()


def synthetic(rows: int, version: int = 1) -> TenantMatrix:
    ids = b"".join(uuid.uuid4().bytes for _ in range(rows))
    vectors = unit_vectors(rows).astype(np.float16).tobytes()
    texts = [f"passage{i} of a tenant" for i in range(rows)]
    return build_matrix(version, [(ids, vectors, b"", joined(texts))])


def traced(build):  # type: ignore[no-untyped-def]
    """What `build()`'s result holds in memory (tracemalloc), not counting the stems cache
    shared by every tenant (emptied before and after)."""
    lexical._stem.cache_clear()
    gc.collect()
    tracemalloc.start()
    try:
        item = build()
        lexical._stem.cache_clear()
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return item, held


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
    # e5 vectors for two chunks in three (the backfill has not reached the others yet).
    e5_vectors = unit_vectors(rows, seed=5)[:, : e5.DIMENSIONS].astype(np.float16)
    e5_vectors[2::3] = 0
    texts = passages(rows)
    pieces = [
        (
            b"".join(c.bytes for c in chunk_ids[i : i + 2048]),
            vectors[i : i + 2048].tobytes(),
            e5_vectors[i : i + 2048].tobytes(),
            joined(texts[i : i + 2048]),
        )
        for i in range(0, rows, 2048)
    ]
    item, held = traced(lambda: build_matrix(1, pieces))
    assert item.matrix.shape == (rows, DIMENSIONS) and len(item) == rows
    assert item.e5.shape == (rows, e5.DIMENSIONS) and item.e5_missing == len(range(2, rows, 3))
    assert item.lexical.size == rows
    assert held <= item.nbytes < held * 1.01, (held, item.nbytes)
    # Sorted for the lookup, each id still on its own vector and its own passage.
    for i in (0, 1, 777, rows - 1):
        row = item.row_of(chunk_ids[i])
        assert row is not None and item.chunk_id(row) == chunk_ids[i]
        assert np.array_equal(item.matrix[row], vectors[i].astype(np.float32))
        assert np.array_equal(item.e5[row], e5_vectors[i].astype(np.float32))
        assert bool(item.e5_present[row]) == (i % 3 != 2)
        assert item.lexical.top_k(f"item{i}", 1)[0][0] == row
    assert item.row_of(uuid.uuid4()) is None


def test_the_keyword_index_costs_what_it_counts_and_ranks_by_bm25() -> None:
    texts = passages(30_000, seed=3)
    index, held = traced(lambda: LexicalIndex.build(texts))
    # Its arrays, and the terms' dict and strings (30,000 "itemN" words among them).
    # (tracemalloc also sees a few bytes allocated beside the build: a 1 % margin below.)
    assert held * 0.99 <= index.nbytes < held * 1.05, (held, index.nbytes)

    # The flat postings give what BM25 over the passages gives, computed the plain way.
    bags = [lexical.tokens(t) for t in texts]
    average = sum(map(len, bags)) / len(bags)
    for query in ("kasandor lovelqui", "mitervelra terprotis kasanne", "item12 kasandor"):
        terms = index.query_terms(query)
        frequency = {t: sum(t in bag for bag in bags) for t in terms}
        expected = []
        for bag in bags:
            score = 0.0
            for t in terms:
                tf = bag.count(t)
                idf = math.log1p((len(bags) - frequency[t] + 0.5) / (frequency[t] + 0.5))
                norm = lexical.K1 * (1 - lexical.B + lexical.B * len(bag) / average)
                score += idf * tf * (lexical.K1 + 1) / (tf + norm)
            expected.append(score)
        assert np.allclose(index.scores(query), expected, rtol=1e-4, atol=1e-5), query


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
    """A tenant of `rows` chunks with real-looking unit embeddings, USE and e5 (64 distinct
    vectors each, cycled) and passages of 60 words (a Zipf-like draw from ~20,000), written
    by Postgres."""
    base = unit_vectors(64, seed=7).astype(np.float16).tobytes()
    e5_base = unit_vectors(64, seed=8)[:, : e5.DIMENSIONS].astype(np.float16).tobytes()
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
                "insert into knowledge.chunks (id, tenant_id, document_id, position, context,"
                " text, language, tsv) select gen_random_uuid(), :t, :d, i, 'big: part ' || i,"
                " p, 'english', to_tsvector('english', p) from generate_series(1, :n) i,"
                " lateral (select string_agg('w' || translate("
                "(floor(power(random(), 3) * 20000) + 0 * (i + j))::int::text,"
                " '0123456789', 'abcdefghij'), ' ') as p from generate_series(1, 60) j) words"
            ),
            {"d": document, "t": tenant, "n": rows},
        )
        await session.execute(
            sql(
                "insert into knowledge.chunk_embeddings (chunk_id, tenant_id, embedding, e5)"
                " select id, tenant_id, substring(cast(:base as bytea)"
                " from (position % 64) * 1024 + 1 for 1024),"
                " substring(cast(:e5_base as bytea) from (position % 64) * 768 + 1 for 768)"
                " from knowledge.chunks where tenant_id = :t"
            ),
            {"t": tenant, "base": base, "e5_base": e5_base},
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
    loaded = searcher.cache.get(tenant, 1)
    assert loaded is not None and loaded.e5.shape == (3000, e5.DIMENSIONS)
    assert loaded.matrix.shape == (3000, DIMENSIONS) and loaded.e5_missing == 0


async def test_the_event_loop_stays_responsive_while_a_big_tenant_loads(
    knowledge_settings: KnowledgeSettings, db: Database
) -> None:
    tenant = uuid.uuid4()
    # 106 MB of float16 in Postgres (USE and e5), 215 MB of float32 once loaded, and 22 MB
    # of passages whose keyword index is built in the same thread.
    rows = 60_000
    await seed(db, tenant, rows)
    searcher = Searcher(knowledge_settings, MatrixCache(max_bytes=512 * MIB))
    await asyncio.to_thread(embeddings.encode_query, "warm the model up first")
    await asyncio.to_thread(e5.encode_query, "warm the model up first")

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
    loaded = searcher.cache.get(tenant, 1)
    assert loaded is not None and loaded.lexical.size == rows and len(loaded.lexical.terms) > 5000
    worst = max(gaps)
    print(
        f"\ncold load of {rows} chunks: {took * 1000:.0f} ms, worst gap {worst * 1000:.0f} ms,"
        f" {loaded.nbytes / MIB:.0f} MiB ({loaded.lexical.nbytes / MIB:.1f} MiB keyword index)"
    )
    # On the loop, the load would be one gap as long as the load itself; off it, the gaps
    # are the interpreter lock shared with the building thread (tens of ms, more on a busy
    # machine): a bound relative to the load's own time tells them apart at any load.
    assert worst < took / 4, f"the event loop was blocked {worst * 1000:.0f} ms of {took:.1f} s"


def test_one_setting_bounds_it_under_either_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert KnowledgeSettings().knowledge_cache_mb == 192
    monkeypatch.setenv("VECTOR_CACHE_MB", "64")  # its name when it held the vectors alone
    assert KnowledgeSettings().knowledge_cache_mb == 64
    monkeypatch.setenv("KNOWLEDGE_CACHE_MB", "96")
    assert KnowledgeSettings().knowledge_cache_mb == 96
