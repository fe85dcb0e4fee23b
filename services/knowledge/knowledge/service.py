"""Business functions of knowledge. Request-scoped ones flush (the caller commits); the
indexing ones own their short transactions because a parse outlives any sensible one."""

import asyncio
import contextlib
import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from common.bus import RetryAfter
from common.db import Database
from common.errors import AppError
from common.events import (
    DocumentFailedPayload,
    DocumentFailedV1,
    DocumentIndexedPayload,
    DocumentIndexedV1,
    DocumentUploadedPayload,
    DocumentUploadedV1,
)
from common.outbox import add_event
from common.pagination import Page, PageQuery, decode_cursor, encode_cursor
from knowledge import e5, embeddings, ranking, repository
from knowledge.confinement import ParseLimits
from knowledge.fairness import FairSlots, TenantQueueFull
from knowledge.models import Document, outbox
from knowledge.parsing import (
    ChunkingOptions,
    ParseError,
    UnsupportedFileType,
    detect_kind,
    ts_config,
)
from knowledge.schemas import DocumentOut, SearchResult
from knowledge.settings import KnowledgeSettings
from knowledge.worker import IndexedFile, ParserPool

log = structlog.get_logger(__name__)


# --- upload and manage -----------------------------------------------------------------------


def _uploaded_event(document: Document) -> DocumentUploadedV1:
    return DocumentUploadedV1(
        tenant_id=document.tenant_id,
        payload=DocumentUploadedPayload(
            document_id=document.id,
            filename=document.filename,
            content_type=document.content_type,
            size_bytes=document.size_bytes,
            sha256=document.sha256,
        ),
    )


async def upload_document(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    filename: str,
    data: bytes,
    settings: KnowledgeSettings,
) -> tuple[Document, bool]:
    """Store the bytes and queue indexing; (document, False) when the tenant has them already."""
    if len(data) > settings.max_upload_bytes:
        raise AppError(413, f"the file is larger than {settings.max_upload_bytes} bytes")
    try:
        kind = await asyncio.to_thread(detect_kind, data, filename)
    except UnsupportedFileType as exc:
        raise AppError(415, str(exc)) from exc
    sha256 = hashlib.sha256(data).hexdigest()
    await repository.lock_tenant_documents(session, tenant_id)
    existing = await repository.find_by_sha256(session, tenant_id, sha256)
    if existing is not None:  # the same bytes again: no new document, so no quota used
        log.info("document.duplicate", document_id=str(existing.id))
        return existing, False
    await check_quota(session, tenant_id, len(data), settings)
    document = await repository.insert_document(
        session,
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "filename": filename[:255],
            "content_type": kind.content_type,
            "file_type": kind.file_type,
            "size_bytes": len(data),
            "sha256": sha256,
            "content": data,
            "status": "processing",
        },
    )
    if document is None:
        existing = await repository.get_by_sha256(session, tenant_id, sha256)
        log.info("document.duplicate", document_id=str(existing.id))
        return existing, False
    await add_event(session, outbox, _uploaded_event(document))
    log.info("document.uploaded", document_id=str(document.id), file_type=kind.file_type)
    return document, True


async def check_quota(
    session: AsyncSession, tenant_id: uuid.UUID, size: int, settings: KnowledgeSettings
) -> None:
    """413 when one more document of `size` bytes would exceed the business's quota."""
    count, stored = await repository.tenant_usage(session, tenant_id)
    if count + 1 > settings.tenant_max_documents:
        raise AppError(
            413,
            f"the business has {count} documents, the most it may store "
            f"({settings.tenant_max_documents}): delete some before uploading more",
        )
    if stored + size > settings.tenant_max_document_bytes:
        raise AppError(
            413,
            f"the business's documents would take {stored + size} bytes, more than its "
            f"quota of {settings.tenant_max_document_bytes}: delete some before uploading more",
        )


async def list_documents(
    session: AsyncSession, tenant_id: uuid.UUID, page: PageQuery
) -> Page[DocumentOut]:
    after = None
    if page.cursor:
        created_at, doc_id = decode_cursor(page.cursor, 2)
        try:
            after = (datetime.fromisoformat(created_at), uuid.UUID(doc_id))
        except (TypeError, ValueError) as exc:
            raise AppError(400, "invalid cursor") from exc
    rows = await repository.list_documents(session, tenant_id, limit=page.limit + 1, after=after)
    items = [DocumentOut.model_validate(d) for d in rows[: page.limit]]
    next_cursor = None
    if len(rows) > page.limit:
        last = rows[page.limit - 1]
        next_cursor = encode_cursor(last.created_at.isoformat(), last.id)
    return Page[DocumentOut](items=items, next_cursor=next_cursor)


async def get_document(
    session: AsyncSession, tenant_id: uuid.UUID, document_id: uuid.UUID
) -> Document:
    document = await repository.get_document(session, tenant_id, document_id)
    if document is None:
        raise AppError(404, "document not found")
    return document


async def delete_document(
    session: AsyncSession, tenant_id: uuid.UUID, document_id: uuid.UUID
) -> None:
    """The document and its chunks go in one statement: unsearchable at commit."""
    document = await get_document(session, tenant_id, document_id)
    await session.delete(document)
    await repository.bump_corpus_version(session, tenant_id)
    await session.flush()
    log.info("document.deleted", document_id=str(document_id))


async def reindex_document(
    session: AsyncSession, tenant_id: uuid.UUID, document_id: uuid.UUID
) -> Document:
    """Index the stored bytes again (after a parser upgrade or a settings change)."""
    document = await repository.get_document(session, tenant_id, document_id, for_update=True)
    if document is None:
        raise AppError(404, "document not found")
    if document.status == "processing":
        raise AppError(409, "the document is being indexed already")
    document.status = "processing"
    document.error = None
    document.attempts = 0
    document.lease_id = None
    document.leased_until = None
    await add_event(session, outbox, _uploaded_event(document))
    await session.flush()
    log.info("document.reindex_requested", document_id=str(document_id))
    return document


# --- indexing (the consumer of document.uploaded.v1) -----------------------------------------


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
            content = (
                await session.execute(
                    repository.documents(tenant_id)
                    .where(Document.id == document_id)
                    .with_only_columns(Document.content)
                )
            ).scalar_one()
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
                await add_event(session, outbox, _uploaded_event(document))
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


# --- search ----------------------------------------------------------------------------------


def keyword_relevance(rank: float, complete: bool) -> float:
    """Every query term in the passage: at least 0.5; only some of them: at most 0.4."""
    density = rank / (rank + 0.1)
    return 0.5 + 0.5 * density if complete else 0.4 * density


def _ranked(
    matrix: embeddings.TenantMatrix,
    query: str,
    e5_vector: np.ndarray,
    use_vector: np.ndarray,
    limit: int,
) -> tuple[list[int], list[float]]:
    """The rows of the `limit` best passages and their relevance (CPU work: in a thread).

    The scores never rise down the list: a passage ranked below another is not called more
    relevant than it (each is capped at the one above), so results stay sorted by score."""
    top = embeddings.best_rows(ranking.fused(matrix, query, e5_vector, use_vector), limit)
    scores = [ranking.relevance(matrix, i, e5_vector, use_vector) for i in top]
    return top, [float(s) for s in np.minimum.accumulate(scores)] if scores else []


def _result(row: Any, score: float) -> SearchResult:
    return SearchResult(
        chunk_id=row.id,
        document_id=row.document_id,
        filename=row.filename,
        text=row.text,
        score=round(score, 4),
        page_number=row.page_number,
        section=row.section,
        position=row.position,
    )


@dataclass
class Searcher:
    """Search with per-process caches keyed by the tenant's corpus version, so every replica
    sees a change at once: the embedding matrix and the languages of the documents."""

    settings: KnowledgeSettings
    cache: embeddings.MatrixCache
    _languages: dict[uuid.UUID, tuple[int, list[str]]] = field(default_factory=dict)

    async def search(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        query: str,
        limit: int,
        *,
        fused: bool = True,
    ) -> list[SearchResult]:
        """Keywords (BM25, typo-tolerant) + e5 and USE embeddings, fused by weighted scores
        (see knowledge.ranking).

        The order is the fused score; the score returned is a calibrated relevance: the
        passage's e5 similarity mapped to [0, 1] (ranking.relevance). `fused=False`, or
        embeddings disabled, is Postgres full text alone (language-aware stemming).
        """
        query = query.strip()
        if not query:
            return []
        if not (fused and self.settings.embeddings_enabled):
            return await self._keyword_only(session, tenant_id, query, limit)
        # The query's vectors need no database: they are computed in threads (e5's C engine
        # and numpy release the GIL; e5's ~30 ms is the search's largest cost) while the
        # corpus is read.
        e5_task = asyncio.create_task(asyncio.to_thread(e5.encode_query, query))
        use_task = asyncio.create_task(asyncio.to_thread(embeddings.encode_query, query))
        try:
            version = await repository.corpus_version(session, tenant_id)
            matrix = await self._matrix(session, tenant_id, version)
            use_vector = await use_task
            e5_vector = await e5_task
        finally:
            for task in (e5_task, use_task):
                if not task.done():
                    task.cancel()
        top, scores = await asyncio.to_thread(_ranked, matrix, query, e5_vector, use_vector, limit)
        rows = await repository.chunks_with_documents(
            session, tenant_id, [matrix.chunk_id(i) for i in top]
        )
        return [
            _result(rows[matrix.chunk_id(i)], score)
            for i, score in zip(top, scores, strict=True)
            if matrix.chunk_id(i) in rows
        ]

    async def _keyword_only(
        self, session: AsyncSession, tenant_id: uuid.UUID, query: str, limit: int
    ) -> list[SearchResult]:
        """Postgres full text: every-term passages first, then some-term ones."""
        version = await repository.corpus_version(session, tenant_id)
        configs = await self._configs(session, tenant_id, version)
        if not configs:
            return []
        full_text, _ = await repository.full_text_candidates(
            session,
            tenant_id,
            query,
            configs,
            max(self.settings.search_candidates, limit),
            relaxed=True,
            cap=self.settings.search_match_cap,
            candidates=[],
        )
        top = [chunk_id for chunk_id, _, _ in full_text][:limit]
        keyword = {chunk_id: (rank, complete) for chunk_id, rank, complete in full_text}
        rows = await repository.chunks_with_documents(session, tenant_id, top)
        return [
            _result(rows[chunk_id], keyword_relevance(*keyword[chunk_id]))
            for chunk_id in top
            if chunk_id in rows
        ]

    async def _configs(
        self, session: AsyncSession, tenant_id: uuid.UUID, version: int
    ) -> list[str]:
        """The text search configurations of the tenant's documents, cached per version."""
        cached = self._languages.get(tenant_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        languages = await repository.tenant_languages(session, tenant_id)
        configs = sorted({ts_config(language) for language in languages})
        if len(self._languages) > 10_000:
            self._languages.clear()
        self._languages[tenant_id] = (version, configs)
        return configs

    async def _matrix(
        self, session: AsyncSession, tenant_id: uuid.UUID, version: int
    ) -> embeddings.TenantMatrix:
        async def load() -> embeddings.TenantMatrix:
            parts = await repository.tenant_passages(session, tenant_id)
            # Matrix and keyword index are built off the event loop.
            return await asyncio.to_thread(embeddings.build_matrix, version, parts)

        # Concurrent searches of a cold tenant share one load (see MatrixCache).
        return await self.cache.get_or_load(tenant_id, version, load)
