"""Knowledge service: documents, chunks and search, the knowledge the AI answers from."""

import asyncio
import contextlib
from pathlib import Path

import structlog
from fastapi import FastAPI

from common.app import ServiceRuntime, create_service_app
from common.bus import Subscription
from common.db import Database
from common.retention import claims_kept
from knowledge import e5, embeddings
from knowledge.api import internal, router
from knowledge.consumers import subscriptions
from knowledge.indexing import E5Backfill, Indexer
from knowledge.models import outbox, processed_events
from knowledge.search import Searcher
from knowledge.settings import KnowledgeSettings
from knowledge.worker import ParserPool

SERVICE_DIR = Path(__file__).resolve().parent.parent
MULTIPART_HEADROOM_BYTES = 64 * 1024
log = structlog.get_logger(__name__)


def consumer_names() -> list[str]:
    """knowledge's consumer names for `make dlq-list` / `dlq-replay` (the
    `whatsapp_ai.consumers` entry point): read off the same subscriptions the runtime makes,
    so the two cannot drift. Built, never started: nothing connects and no parser starts (the
    pool spawns workers on first use); development defaults size them, so listing queues needs
    no production secrets."""
    settings = KnowledgeSettings(environment="development")
    db = Database(settings.database_url, pool_size=1)
    indexer = Indexer(db, ParserPool(settings.parse_workers), settings)
    return [s.consumer for s in subscriptions(indexer)]


class KnowledgeRuntime(ServiceRuntime):
    """The common runtime plus the parser pool, the sweeper of expired leases and the e5
    backfill."""

    def __init__(self, settings: KnowledgeSettings, pool: ParserPool | None = None) -> None:
        self.knowledge_settings = settings
        # A pool given by the caller (tests share one across apps) is not closed here.
        self.owns_pool = pool is None
        self.pool = pool or ParserPool(settings.parse_workers)
        self.indexer: Indexer | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._warm: asyncio.Task[None] | None = None
        self._e5_backfill: asyncio.Task[None] | None = None
        super().__init__(
            settings,
            service_dir=SERVICE_DIR,
            outbox=outbox,
            retention=[claims_kept(processed_events, settings)],
        )

    def consumer_subscriptions(self) -> list[Subscription]:
        return subscriptions(self._require_indexer())

    def _require_indexer(self) -> Indexer:
        assert self.db is not None
        if self.indexer is None:
            self.indexer = Indexer(self.db, self.pool, self.knowledge_settings)
        return self.indexer

    async def start(self) -> None:
        await super().start()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="knowledge-sweeper")
        self._warm = asyncio.create_task(self._warm_up())
        if self.knowledge_settings.embeddings_enabled:
            self._e5_backfill = asyncio.create_task(
                self.e5_backfill().run_forever(), name="knowledge-e5-backfill"
            )

    def e5_backfill(self) -> E5Backfill:
        indexer = self._require_indexer()
        return E5Backfill(indexer.db, self.pool, self.knowledge_settings, indexer.slots)

    async def stop(self) -> None:
        for task in (self._sweeper, self._warm, self._e5_backfill):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await super().stop()
        if self.owns_pool:
            await asyncio.to_thread(self.pool.close)

    async def _warm_up(self) -> None:
        # Models load now, in the background, not on the first document or search.
        await self.pool.warm()
        if self.knowledge_settings.embeddings_enabled:
            await asyncio.to_thread(embeddings.encode, ["warm up"])
            await asyncio.to_thread(e5.encode_query, "warm up")

    async def _sweep_forever(self) -> None:
        indexer = self._require_indexer()
        while True:
            await asyncio.sleep(self.knowledge_settings.sweep_interval_s)
            try:
                await indexer.sweep()
            except Exception as exc:  # database away: the next round tries again
                log.warning("sweeper.failed", error=repr(exc))


def create_app(
    settings: KnowledgeSettings | None = None, *, pool: ParserPool | None = None
) -> FastAPI:
    """knowledge: schema migrated at start, indexing consumer, sweeper and outbox relay."""
    settings = settings or KnowledgeSettings()
    runtime = KnowledgeRuntime(settings, pool)
    app = create_service_app(
        settings,
        runtime,
        title="WhatsApp AI knowledge",
        description="Documents, chunks and search: the knowledge the AI answers from.",
        routers=[router, internal],
        # The file's own limit plus room for the multipart framing; knowledge's 413 names it.
        body_limits={"/api/documents": settings.max_upload_bytes + MULTIPART_HEADROOM_BYTES},
    )
    app.state.searcher = Searcher(
        settings, embeddings.MatrixCache(max_bytes=settings.knowledge_cache_mb * 1024 * 1024)
    )
    return app
