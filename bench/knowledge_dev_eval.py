"""Retrieval quality on kb-dev-eval (a bike shop's 6 documents, 96 WhatsApp-style questions).

Indexes the corpus through the service's own upload, worker pool and Indexer, then asks every
question through `Searcher.search` (limit 5), as GET /api/knowledge/search does. Prints hit@1/3/5
and MRR by kind and by source, the AUC of the top-1 score (answerable vs unanswerable), the
share kept / refused at the responder's default RELEVANCE_THRESHOLD, and search latency.

make bench            (uses DATABASE_URL; creates and drops its own database)
KB_EVAL_DIR=path      another set of the same format (corpus/ and questions.jsonl)
KB_EVAL_KEEP_DB=name  keep (or reuse, if it exists) an indexed database: search-only changes
                      then skip indexing
-v                    print every miss with its top-1 text
"""

import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import text

from common.db import Database, ensure_database
from common.migrations import upgrade
from knowledge import evaluation
from knowledge.documents import upload_document
from knowledge.embeddings import MatrixCache
from knowledge.indexing import E5Backfill, Indexer
from knowledge.main import SERVICE_DIR
from knowledge.search import Searcher
from knowledge.settings import KnowledgeSettings
from knowledge.worker import ParserPool
from responder.settings import ResponderSettings

SERVER_URL = os.environ.get(
    "DATABASE_URL", "postgresql+asyncpg://postgres@localhost:5432/whatsapp_ai"
)
EVAL_DIR = Path(os.environ.get("KB_EVAL_DIR", evaluation.DEV_SET))
KEEP_DB = os.environ.get("KB_EVAL_KEEP_DB")
TENANT = uuid.UUID("00000000-0000-4000-8000-00000000e7a1")


async def index_corpus(db: Database, settings: KnowledgeSettings) -> None:
    pool = ParserPool(1)
    try:
        await pool.warm()
        indexer = Indexer(db, pool, settings)
        for path in sorted((EVAL_DIR / "corpus").iterdir()):
            started = time.perf_counter()
            async with db.session() as session:
                document, _ = await upload_document(
                    session, TENANT, path.name, path.read_bytes(), settings
                )
                doc_id = document.id
            await indexer.index(TENANT, doc_id)
            async with db.session() as session:
                status, chunks, error = (
                    await session.execute(
                        text(
                            "SELECT status, chunk_count, error FROM knowledge.documents"
                            " WHERE id = :id"
                        ),
                        {"id": doc_id},
                    )
                ).one()
            print(
                f"  {path.name:<32} {status:<9} {chunks:>4} chunks"
                f" {time.perf_counter() - started:>6.1f} s {error or ''}"
            )
        # The e5 vectors come after indexing, as in the service (its background backfill).
        started = time.perf_counter()
        embedded = await E5Backfill(db, pool, settings, indexer.slots).drain()
        print(f"  e5 vectors of {embedded} chunks {time.perf_counter() - started:>6.1f} s")
    finally:
        pool.close()


async def main() -> None:
    verbose = "-v" in sys.argv
    name = KEEP_DB or f"wa_bench_{uuid.uuid4().hex[:8]}"
    db_url = SERVER_URL.rsplit("/", 1)[0] + f"/{name}"
    created = await ensure_database(db_url)
    await asyncio.to_thread(upgrade, SERVICE_DIR, db_url)
    settings = KnowledgeSettings(database_url=db_url)
    db = Database(db_url, pool_size=2)
    threshold = ResponderSettings.model_fields["relevance_threshold"].default
    try:
        if created or not KEEP_DB:
            print(f"indexing {EVAL_DIR / 'corpus'}")
            await index_corpus(db, settings)
        searcher = Searcher(settings, MatrixCache())
        questions = evaluation.load_questions(EVAL_DIR / "questions.jsonl")
        outcomes, latencies, misses = [], [], []
        async with db.session() as session:  # warm: the tenant's matrix, the query encoder
            await searcher.search(session, TENANT, "warm up", 5)
        for q in questions:
            started = time.perf_counter()
            async with db.session() as session:
                results = await searcher.search(session, TENANT, q["question"], 5)
            latencies.append((time.perf_counter() - started) * 1000)
            o = evaluation.outcome(q, [(r.text, r.score) for r in results])
            outcomes.append(o)
            if q["answerable"] and (o.rank is None or o.rank > 3):
                top = evaluation.norm(results[0].text)[:100] if results else "(none)"
                misses.append(
                    f"    {q['id']} {q['kind']:<12} {q['question'][:70]}\n"
                    f"        want {q['must_contain']} rank {o.rank}\n"
                    f"        top1 [{results[0].filename if results else ''}] {top}"
                )
        rep = evaluation.report(outcomes)
        rep["at_threshold"] = evaluation.at_threshold(outcomes, threshold)
        print(f"{EVAL_DIR.name}: {len(questions)} questions")
        print(evaluation.format_report(rep, threshold))
        lat = sorted(latencies)
        p95 = lat[int(0.95 * (len(lat) - 1))]
        print(f"  search latency p50 {statistics.median(lat):.1f} ms, p95 {p95:.1f} ms")
        print(f"  missed in the top 3: {len(misses)}")
        if verbose:
            print("\n".join(misses))
        print(
            f"kb-dev-eval: hit@1={rep['all']['hit@1']:.2f} hit@3={rep['all']['hit@3']:.2f}"
            f" mrr={rep['all']['mrr']:.2f} auc={rep['separation']['auc']:.2f} p95_ms={p95:.0f}"
        )
    finally:
        await db.dispose()
        if not KEEP_DB:
            admin = Database(SERVER_URL.rsplit("/", 1)[0] + "/postgres", pool_size=1)
            async with admin.engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
