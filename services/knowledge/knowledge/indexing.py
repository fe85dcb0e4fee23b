"""Indexing, the consumer of document.uploaded.v1: parse, chunk and embed a document in the
parser pool, then store its chunks (`Indexer`), and the e5 vectors that come after
(`E5Backfill`). These own their short transactions, because a parse outlives any sensible
one."""

import asyncio
import contextlib
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from common.bus import RetryAfter
from common.db import Database
from common.events import (
    DocumentFailedPayload,
    DocumentFailedV1,
    DocumentIndexedPayload,
    DocumentIndexedV1,
)
from common.outbox import add_event
from knowledge import repository
from knowledge.confinement import ParseLimits
from knowledge.documents import uploaded_event
from knowledge.fairness import FairSlots, TenantQueueFull
from knowledge.models import Document, outbox
from knowledge.parsing import (
    ChunkingOptions,
    ParseError,
    ts_config,
)
from knowledge.settings import KnowledgeSettings
from knowledge.worker import IndexedFile, ParserPool

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Indexer:
    db: Database
    pool: ParserPool
    settings: KnowledgeSettings
    # As many documents in hand as the pool has workers: the others wait, unleased, instead
    # of holding leases (and running down their timeout) in the pool's queue. Free workers
    # go to businesses in turn (see knowledge.fairness).
    slots: FairSlots = field(default_factory=lambda: FairSlots(1, 1))

    def __post_init__(self) -> None:
        s = self.settings
        object.__setattr__(self, "slots", FairSlots(s.parse_workers, s.index_tenant_queue))

    @property
    def options(self) -> ChunkingOptions:
        s = self.settings
        return ChunkingOptions(s.chunk_max_chars, s.chunk_soft_chars, s.chunk_overlap_chars)

    @property
    def limits(self) -> ParseLimits:
        s = self.settings
        return ParseLimits(
            s.parse_timeout_s, s.parse_memory_mb, s.parse_zip_max_mb, s.parse_zip_max_ratio
        )

    async def index(self, tenant_id: uuid.UUID, document_id: uuid.UUID) -> None:
        """Index the document when a parser is free for its business; RetryAfter when the
        business has its share waiting already (the bus brings the job back later)."""
        try:
            async with self.slots.slot(tenant_id):
                await self._index(tenant_id, document_id)
        except TenantQueueFull as exc:
            log.info("document.deferred", document_id=str(document_id), reason=str(exc))
            raise RetryAfter(self.settings.index_defer_s, str(exc)) from exc

    async def _index(self, tenant_id: uuid.UUID, document_id: uuid.UUID) -> None:
        """Lease the document, parse it in a worker while renewing the lease, store the result.

        A document nobody can take (indexed, failed, deleted, or held by a live worker) is
        left alone: a live worker finishes it, a dead one's lease expires and the sweeper
        hands it on. Attempts are counted in the row, so a file that kills its worker every
        time ends `failed` instead of looping.
        """
        s = self.settings
        lease_id = uuid.uuid4()
        async with self.db.session() as session:
            document = await repository.claim_lease(
                session, tenant_id, document_id, lease_id, s.index_lease_s
            )
            if document is None:
                log.info("document.not_claimable", document_id=str(document_id))
                return
            if document.attempts > s.index_max_attempts:
                await fail_document(
                    session,
                    document,
                    f"Indexing did not finish after {s.index_max_attempts} attempts "
                    "(the parser kept crashing on this file).",
                )
                return
            content = await repository.document_content(session, tenant_id, document_id)
            filename, file_type = document.filename, document.file_type

        heartbeat = asyncio.create_task(self._renew(document_id, lease_id))
        try:
            result = await self.pool.run(
                content,
                filename,
                file_type,
                self.options,
                embed=s.embeddings_enabled,
                limits=self.limits,
                e5_max_chunks=s.e5_inline_max_chunks,
            )
        except ParseError as exc:
            await self._finish_failed(document_id, lease_id, str(exc))
            return
        except Exception:
            # Retryable: give the document back at once so the retry can take it.
            await self._release(document_id, lease_id)
            raise
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        await self._store(document_id, lease_id, result)

    async def _renew(self, document_id: uuid.UUID, lease_id: uuid.UUID) -> None:
        interval = self.settings.index_lease_s / 3
        while True:
            await asyncio.sleep(interval)
            try:
                async with self.db.session() as session:
                    await repository.renew_lease(
                        session, document_id, lease_id, self.settings.index_lease_s
                    )
            except Exception as exc:  # the next beat tries again; the lease has slack
                log.warning("document.lease_renew_failed", error=repr(exc))

    async def _release(self, document_id: uuid.UUID, lease_id: uuid.UUID) -> None:
        with contextlib.suppress(Exception):  # if this fails too, the lease simply expires
            async with self.db.session() as session:
                document = await repository.leased_document(session, document_id, lease_id)
                if document is not None:
                    document.lease_id = None
                    document.leased_until = None

    async def _store(
        self, document_id: uuid.UUID, lease_id: uuid.UUID, result: IndexedFile
    ) -> None:
        async with self.db.session() as session:
            document = await repository.leased_document(session, document_id, lease_id)
            if document is None:  # deleted meanwhile, or our lease expired and was re-taken
                log.info("document.lease_lost", document_id=str(document_id))
                return
            languages = Counter(c.language for c in result.chunks if c.language)
            language = languages.most_common(1)[0][0] if languages else None
            config = ts_config(language)
            await repository.delete_chunks(session, document.tenant_id, document.id)
            rows = [
                {
                    "id": uuid.uuid4(),
                    "tenant_id": document.tenant_id,
                    "document_id": document.id,
                    "position": chunk.position,
                    "page_number": chunk.page_number,
                    "section": chunk.section,
                    "context": chunk.context or chunk.section,
                    "text": chunk.text,
                    "ts_config": config,
                    "embedding": result.embeddings[i] if result.embeddings else None,
                    "e5": result.e5_embeddings[i] if result.e5_embeddings else None,
                }
                for i, chunk in enumerate(result.chunks)
            ]
            for start in range(0, len(rows), 500):
                await repository.insert_chunks(session, rows[start : start + 500])
            await repository.bump_corpus_version(session, document.tenant_id)
            document.status = "indexed"
            document.chunk_count = len(rows)
            document.language = language
            document.error = None
            document.lease_id = None
            document.leased_until = None
            document.indexed_at = datetime.now().astimezone()
            await add_event(
                session,
                outbox,
                DocumentIndexedV1(
                    tenant_id=document.tenant_id,
                    payload=DocumentIndexedPayload(
                        document_id=document.id,
                        filename=document.filename,
                        chunk_count=len(rows),
                        language=language,
                    ),
                ),
            )
        log.info(
            "document.indexed",
            document_id=str(document_id),
            chunks=len(rows),
            parse_s=round(result.parse_s, 2),
            embed_s=round(result.embed_s, 2),
        )

    async def _finish_failed(self, document_id: uuid.UUID, lease_id: uuid.UUID, error: str) -> None:
        async with self.db.session() as session:
            document = await repository.leased_document(session, document_id, lease_id)
            if document is not None:
                await fail_document(session, document, error)

    async def sweep(self) -> int:
        """Hand on documents whose worker died (lease expired): retry, or fail when spent."""
        handled = 0
        async with self.db.session() as session:
            for document in await repository.expired_leases(session):
                handled += 1
                if document.attempts >= self.settings.index_max_attempts:
                    await fail_document(
                        session,
                        document,
                        f"Indexing did not finish after {document.attempts} attempts "
                        "(the parser stopped responding on this file).",
                    )
                    continue
                document.lease_id = None
                document.leased_until = None
                await add_event(session, outbox, uploaded_event(document))
                log.warning("document.requeued_after_expired_lease", document_id=str(document.id))
        return handled


@dataclass(frozen=True)
class E5Backfill:
    """Computes the e5 vectors of chunks that have none, one document at a time, in the
    parser pool: new documents right after indexing (e5 takes ~0.5 s per passage, too slow
    to run while the document is indexed: it is searchable with USE and BM25 meanwhile) and
    every chunk stored before e5 existed (after the migration, existing tenants are embedded
    in the background; no reindex is needed).

    A batch takes one of the indexer's slots as its tenant's work (fair shares, as for
    documents), so an upload waits for one batch at most. The
    tenant's corpus version is bumped when a document is complete: caches then reload it
    with its e5 vectors. Replicas may embed the same batch twice (wasted work, never wrong:
    only a chunk still without a vector is updated)."""

    db: Database
    pool: ParserPool
    settings: KnowledgeSettings
    slots: FairSlots

    async def run_once(self) -> int:
        """Embed one batch; how many chunks it held (0: nothing left to do)."""
        async with self.db.session() as session:
            pending = await repository.pending_e5(session, self.settings.e5_backfill_batch)
        if pending is None or not pending.chunk_ids:
            return 0
        async with self.slots.slot(pending.tenant_id):
            vectors = await self.pool.embed_e5(
                pending.passages, timeout=self.settings.parse_timeout_s
            )
        async with self.db.session() as session:
            await repository.store_e5(session, pending.chunk_ids, vectors)
            if not await repository.document_has_pending_e5(session, pending.document_id):
                await repository.bump_corpus_version(session, pending.tenant_id)
                log.info("document.e5_embedded", document_id=str(pending.document_id))
        return len(pending.chunk_ids)

    async def drain(self) -> int:
        """Embed until nothing is left (tests, benches); how many chunks."""
        total = 0
        while n := await self.run_once():
            total += n
        return total

    async def run_forever(self) -> None:
        while True:
            try:
                if await self.run_once():
                    continue
            except Exception as exc:  # database away, worker crashed: try again later
                log.warning("e5_backfill.failed", error=repr(exc))
            await asyncio.sleep(self.settings.e5_backfill_idle_s)


async def fail_document(session: AsyncSession, document: Document, error: str) -> None:
    document.status = "failed"
    document.error = error
    document.chunk_count = 0
    document.lease_id = None
    document.leased_until = None
    await repository.delete_chunks(session, document.tenant_id, document.id)
    await repository.bump_corpus_version(session, document.tenant_id)
    await add_event(
        session,
        outbox,
        DocumentFailedV1(
            tenant_id=document.tenant_id,
            payload=DocumentFailedPayload(
                document_id=document.id, filename=document.filename, error=error
            ),
        ),
    )
    log.warning("document.failed", document_id=str(document.id), error=error)
