"""Indexing time of a 100-page text PDF: parse (unstructured, fast strategy), chunk, embed
and store, through the same Indexer and worker pool the service uses.

The worker process starts and loads its models when the service starts (measured apart);
then three different 100-page documents are indexed, each split into the worker's parse
(partition + chunk), its embedding, and the rest (lease, transfer, store). Target: <= 15 s.

make bench    (uses DATABASE_URL; creates and drops its own database)
"""

import asyncio
import io
import os
import random
import time
import uuid
from typing import Any

import asyncpg
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate
from sqlalchemy import text
from sqlalchemy.engine import make_url

from common.db import Database, async_url, ensure_database
from common.migrations import upgrade
from knowledge.indexing import Indexer
from knowledge.main import SERVICE_DIR
from knowledge.settings import KnowledgeSettings
from knowledge.worker import IndexedFile, ParserPool

SERVER_URL = os.environ.get(
    "DATABASE_URL", "postgresql+asyncpg://postgres@localhost:5432/whatsapp_ai"
)
PAGES = int(os.environ.get("BENCH_PAGES", "100"))
WORDS = [
    "order",
    "delivery",
    "return",
    "refund",
    "exchange",
    "size",
    "warranty",
    "repair",
    "payment",
    "card",
    "invoice",
    "discount",
    "voucher",
    "account",
    "password",
    "store",
    "hours",
    "weekend",
    "price",
    "tax",
    "shipping",
    "tracking",
    "carrier",
    "stock",
    "customer",
    "service",
    "policy",
    "days",
    "business",
    "working",
    "free",
    "cost",
    "fee",
    "insurance",
    "pickup",
    "courier",
]


def text_pdf(pages: int, seed: int) -> bytes:
    rng = random.Random(seed)
    styles = getSampleStyleSheet()
    story = []
    for page in range(pages):
        story.append(
            Paragraph(f"Section {page + 1}: {rng.choice(WORDS).title()}", styles["Heading1"])
        )
        for _ in range(4):
            sentence = lambda: " ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + "."  # noqa: E731
            story.append(Paragraph(" ".join(sentence() for _ in range(6)), styles["BodyText"]))
        story.append(PageBreak())
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4).build(story)
    return buffer.getvalue()


class TimedPool(ParserPool):
    """The service's pool, keeping the last result (its timings) for the printout."""

    last: IndexedFile | None = None

    async def run(self, *args: Any, **kwargs: Any) -> IndexedFile:
        self.last = await super().run(*args, **kwargs)
        return self.last


async def main() -> None:
    name = f"wa_bench_{uuid.uuid4().hex[:8]}"
    db_url = SERVER_URL.rsplit("/", 1)[0] + f"/{name}"
    await ensure_database(db_url)
    await asyncio.to_thread(upgrade, SERVICE_DIR, db_url)
    settings = KnowledgeSettings(database_url=db_url)
    db = Database(db_url, pool_size=2)
    pool = TimedPool(1)
    tenant = uuid.uuid4()
    try:
        pdfs = [text_pdf(PAGES, seed) for seed in (1, 2, 3)]
        print(f"{PAGES}-page text PDF: {len(pdfs[0]) / 1024:.0f} KiB")
        indexer = Indexer(db, pool, settings)
        t0 = time.perf_counter()
        await pool.warm()
        print(
            f"worker start + model load (done at service start): {time.perf_counter() - t0:.1f} s"
        )
        for number, pdf in enumerate(pdfs, start=1):
            doc_id = uuid.uuid4()
            async with db.session() as session:
                await session.execute(
                    text(
                        "INSERT INTO knowledge.documents (id, tenant_id, filename, content_type,"
                        " file_type, size_bytes, sha256, content, status) VALUES (:id, :t,"
                        " 'bench.pdf', 'application/pdf', 'pdf', :n, :h, :c, 'processing')"
                    ),
                    {"id": doc_id, "t": tenant, "n": len(pdf), "h": uuid.uuid4().hex, "c": pdf},
                )
            t0 = time.perf_counter()
            await indexer.index(tenant, doc_id)
            elapsed = time.perf_counter() - t0
            async with db.session() as session:
                status, chunks = (
                    await session.execute(
                        text("SELECT status, chunk_count FROM knowledge.documents WHERE id = :id"),
                        {"id": doc_id},
                    )
                ).one()
            result = pool.last
            assert result is not None
            print(
                f"indexing, document {number}   {elapsed:5.1f} s  ({status}, {chunks} chunks: "
                f"partition + chunk {result.parse_s:.1f} s, embeddings {result.embed_s:.1f} s, "
                f"rest {elapsed - result.parse_s - result.embed_s:.1f} s)"
            )
    finally:
        pool.close()
        await db.dispose()
        conn = await asyncpg.connect(
            host=make_url(async_url(SERVER_URL)).host, user="postgres", database="postgres"
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
