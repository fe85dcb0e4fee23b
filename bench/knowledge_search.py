"""Search latency with 50,000 chunks in one tenant and 20 other tenants present.

Chunks are synthetic passages: words drawn with a Zipf distribution (stop words, then a
shop's vocabulary, then 8,000 made-up words, as in real text) and random unit embeddings
(the cost of scoring does not depend on the vectors' values). Prints p50/p95/p99 of
`Searcher.search` fused (BM25 + embeddings) and keyword-only (Postgres full text), warm
(the tenant's embedding matrix and keyword index cached), and the cold load of both. The questions use the shop's
words, which sit high in the Zipf ranking: a pessimistic case for full-text.

make bench    (uses DATABASE_URL; creates and drops its own database)
BENCH_CHUNKS=50000 BENCH_OTHER_TENANTS=20 BENCH_OTHER_CHUNKS=5000 BENCH_QUERIES=300
"""

import asyncio
import os
import random
import statistics
import time
import uuid

import asyncpg
import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import make_url

from common.db import Database, async_url, ensure_database
from common.migrations import upgrade
from knowledge import e5, embeddings
from knowledge.embeddings import MatrixCache
from knowledge.main import SERVICE_DIR
from knowledge.search import Searcher
from knowledge.settings import KnowledgeSettings

SERVER_URL = os.environ.get(
    "DATABASE_URL", "postgresql+asyncpg://postgres@localhost:5432/whatsapp_ai"
)
CHUNKS = int(os.environ.get("BENCH_CHUNKS", "50000"))
OTHER_TENANTS = int(os.environ.get("BENCH_OTHER_TENANTS", "20"))
OTHER_CHUNKS = int(os.environ.get("BENCH_OTHER_CHUNKS", "5000"))
QUERIES = int(os.environ.get("BENCH_QUERIES", "300"))
CHUNKS_PER_DOCUMENT = 50

DOMAIN = (  # noqa: SIM905
    "order delivery shipping parcel return refund exchange size shoe shirt jacket dress "
    "warranty repair screen battery phone laptop charger cable payment card paypal invoice "
    "receipt discount coupon voucher gift loyalty points member account password login email "
    "address store shop opening hours weekend holiday price tax customs europe portugal spain "
    "germany france express standard tracking carrier warehouse stock available colour black "
    "white blue cotton wool leather wash care instructions guarantee defect damage broken "
    "cancel change subscription plan monthly yearly contact phone chat support agent team "
    "policy days weeks business working free cost euro fee insurance pickup locker courier"
).split()
GLUE = "the a our your we you is are can will within after before for with from to of and".split()  # noqa: SIM905


def vocabulary(rng: random.Random, size: int = 8000) -> list[str]:
    """Stop words first, the shop's words next, then made-up words: a Zipf-ranked list."""
    syllables = ["ka", "lo", "mi", "ter", "san", "pro", "vel", "dor", "qui", "ne", "ra", "tis"]
    made_up = {"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(size)}
    return GLUE + DOMAIN + sorted(made_up - set(DOMAIN))


def zipf_weights(n: int, exponent: float = 1.07) -> list[float]:
    total, weights = 0.0, []
    for rank in range(1, n + 1):
        total += 1 / rank**exponent
        weights.append(total)
    return weights


def passage(rng: random.Random, words: list[str], cumulative: list[float]) -> str:
    sentences = []
    for _ in range(rng.randint(4, 8)):
        chosen = rng.choices(words, cum_weights=cumulative, k=rng.randint(8, 16))
        sentences.append(" ".join(chosen).capitalize() + ".")
    return " ".join(sentences)


def question(rng: random.Random) -> str:
    start = rng.choice(["how do I", "can I", "what is the", "when will my", "do you", ""])
    return f"{start} {' '.join(rng.choice(DOMAIN) for _ in range(rng.randint(2, 5)))}?".strip()


async def load(db_url: str, tenant: uuid.UUID, count: int, rng: random.Random) -> None:
    words = vocabulary(random.Random(1))
    cumulative = zipf_weights(len(words))
    url = make_url(async_url(db_url))
    conn = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, database=url.database
    )
    try:
        docs = [uuid.uuid4() for _ in range(max(1, count // CHUNKS_PER_DOCUMENT))]
        await conn.copy_records_to_table(
            "documents",
            schema_name="knowledge",
            columns=[
                "id",
                "tenant_id",
                "filename",
                "content_type",
                "file_type",
                "size_bytes",
                "sha256",
                "content",
                "status",
                "chunk_count",
                "language",
            ],
            records=[
                (
                    d,
                    tenant,
                    f"doc-{i}.pdf",
                    "application/pdf",
                    "pdf",
                    1,
                    uuid.uuid4().hex,
                    b"x",
                    "indexed",
                    CHUNKS_PER_DOCUMENT,
                    "eng",
                )
                for i, d in enumerate(docs)
            ],
        )
        await conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS staging (id uuid, document_id uuid, position int,"
            " text text, embedding bytea, e5 bytea)"
        )
        await conn.execute("TRUNCATE staging")
        vectors = rng_vectors(count)
        e5_vectors = rng_vectors(count, e5.DIMENSIONS)
        await conn.copy_records_to_table(
            "staging",
            records=[
                (
                    uuid.uuid4(),
                    docs[i // CHUNKS_PER_DOCUMENT % len(docs)],
                    i % CHUNKS_PER_DOCUMENT,
                    passage(rng, words, cumulative),
                    vectors[i].astype(np.float16).tobytes(),
                    e5_vectors[i].astype(np.float16).tobytes(),
                )
                for i in range(count)
            ],
        )
        await conn.execute(
            "INSERT INTO knowledge.chunks (id, tenant_id, document_id, position, page_number,"
            " section, text, language, tsv) SELECT id, $1, document_id, position, 1,"
            " NULL, text, 'english', to_tsvector('english', text) FROM staging",
            tenant,
        )
        await conn.execute(
            "INSERT INTO knowledge.chunk_embeddings (chunk_id, tenant_id, embedding, e5)"
            " SELECT id, $1, embedding, e5 FROM staging",
            tenant,
        )
        await conn.execute(
            "INSERT INTO knowledge.corpus_versions (tenant_id, version) VALUES ($1, 1)", tenant
        )
    finally:
        await conn.close()


def rng_vectors(count: int, dimensions: int = embeddings.DIMENSIONS) -> np.ndarray:
    vectors = np.random.default_rng(7).standard_normal((count, dimensions))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    pick = lambda p: ordered[min(len(ordered) - 1, int(p * len(ordered)))]  # noqa: E731
    return (
        f"p50 {statistics.median(ordered):6.1f} ms   p95 {pick(0.95):6.1f} ms   "
        f"p99 {pick(0.99):6.1f} ms   max {ordered[-1]:6.1f} ms"
    )


async def main() -> None:
    name = f"wa_bench_{uuid.uuid4().hex[:8]}"
    db_url = SERVER_URL.rsplit("/", 1)[0] + f"/{name}"
    await ensure_database(db_url)
    await asyncio.to_thread(upgrade, SERVICE_DIR, db_url)
    rng = random.Random(42)
    tenant = uuid.uuid4()
    started = time.perf_counter()
    await load(db_url, tenant, CHUNKS, rng)
    for _ in range(OTHER_TENANTS):
        await load(db_url, uuid.uuid4(), OTHER_CHUNKS, rng)
    db = Database(db_url, pool_size=2)
    try:
        # Steady state, as autovacuum leaves a table some time after a bulk load: otherwise
        # its vacuum of the 150,000 new rows (and the first readers' hint-bit writes) would
        # run during the measurement.
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("chunks", "chunk_embeddings", "documents"):
                await conn.execute(text(f"VACUUM ANALYZE knowledge.{table}"))
        print(
            f"loaded {CHUNKS:,} chunks for the tenant + {OTHER_TENANTS} tenants x "
            f"{OTHER_CHUNKS:,} in {time.perf_counter() - started:.0f} s"
        )
        settings = KnowledgeSettings(database_url=db_url)
        searcher = Searcher(settings, MatrixCache(settings.knowledge_cache_mb * 1024 * 1024))
        embeddings.encode(["warm up the query encoder"])
        e5.encode_query("warm up the query encoder")
        t0 = time.perf_counter()
        async with db.session() as session:
            await searcher.search(session, tenant, "refund for a broken phone", 5)
        print(
            f"first search (loads the tenant's {CHUNKS:,} embeddings and passages, builds"
            f" its keyword index): {(time.perf_counter() - t0) * 1000:.0f} ms"
        )
        cached = searcher.cache.get(tenant, 1)
        assert cached is not None, "the tenant does not fit KNOWLEDGE_CACHE_MB: not kept"
        print(
            f"cached: {cached.nbytes / 2**20:.1f} MiB ({cached.lexical.nbytes / 2**20:.1f} MiB"
            f" keyword index, {len(cached.lexical.terms):,} words) of"
            f" {searcher.cache.max_bytes / 2**20:.0f} MiB"
        )
        questions = [question(rng) for _ in range(QUERIES)]
        for label, fused in (("fused (BM25 + embeddings)", True), ("keyword-only", False)):
            samples = []
            for q in questions:
                t0 = time.perf_counter()
                async with db.session() as session:
                    await searcher.search(session, tenant, q, 5, fused=fused)
                samples.append((time.perf_counter() - t0) * 1000)
            print(f"{label:<36} {percentiles(samples)}  ({QUERIES} queries)")
        # The same questions again: their e5 vectors are cached (a customer's repeated
        # question), so this is the search without the ~30 ms of e5 encoding.
        samples = []
        for q in questions:
            t0 = time.perf_counter()
            async with db.session() as session:
                await searcher.search(session, tenant, q, 5)
            samples.append((time.perf_counter() - t0) * 1000)
        print(f"{'fused, query vectors cached':<36} {percentiles(samples)}  ({QUERIES} queries)")
    finally:
        await db.dispose()
        if os.environ.get("BENCH_KEEP_DB"):
            print(f"kept database {name}")
        else:
            conn = await asyncpg.connect(
                host=make_url(async_url(SERVER_URL)).host, user="postgres", database="postgres"
            )
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
