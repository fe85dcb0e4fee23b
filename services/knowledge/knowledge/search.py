"""Search of a business's passages: keywords + both embedders fused (see knowledge.ranking),
or Postgres full text alone; per-process caches keyed by the tenant's corpus version."""

import asyncio
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge import e5, embeddings, ranking, repository
from knowledge.parsing import (
    ts_config,
)
from knowledge.query_vectors import QueryVectors
from knowledge.schemas import SearchResult
from knowledge.settings import KnowledgeSettings


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


# A corpus this small is ranked on the event loop (well under a millisecond); a larger one in
# a thread, so that a big tenant's search never stalls the others.
INLINE_RANK_ROWS = 256


def _vector_task(encoder: QueryVectors, query: str) -> asyncio.Future[np.ndarray]:
    """The query's vector: at once when remembered, else computed in a thread."""
    cached = encoder.cached(query)
    if cached is not None:
        done: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        done.set_result(cached)
        return done
    return asyncio.ensure_future(asyncio.to_thread(encoder, query))


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


# Passages returned, remembered by (tenant, corpus version, chunk id): a chunk's row and its
# document's filename never change within a version (every chunk insert or delete and every
# document delete bumps it), and the same few passages answer most questions.
ROWS_CACHED = 4096


@dataclass
class Searcher:
    """Search with per-process caches keyed by the tenant's corpus version, so every replica
    sees a change at once: the embedding matrix, the languages of the documents and the
    passages returned."""

    settings: KnowledgeSettings
    cache: embeddings.MatrixCache
    _languages: dict[uuid.UUID, tuple[int, list[str]]] = field(default_factory=dict)
    _rows: OrderedDict[tuple[uuid.UUID, int, uuid.UUID], Any] = field(default_factory=OrderedDict)

    async def _passages(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        version: int,
        chunk_ids: list[uuid.UUID],
    ) -> dict[uuid.UUID, Any]:
        """The rows of these chunks at this version (see ROWS_CACHED); a chunk gone is absent."""
        found: dict[uuid.UUID, Any] = {}
        missing: list[uuid.UUID] = []
        for chunk_id in chunk_ids:
            row = self._rows.get((tenant_id, version, chunk_id))
            if row is None:
                missing.append(chunk_id)
            else:
                self._rows.move_to_end((tenant_id, version, chunk_id))
                found[chunk_id] = row
        if missing:
            loaded = await repository.chunks_with_documents(session, tenant_id, missing)
            for chunk_id, row in loaded.items():
                self._rows[(tenant_id, version, chunk_id)] = row
            while len(self._rows) > ROWS_CACHED:
                self._rows.popitem(last=False)
            found.update(loaded)
        return found

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
        # The query's vectors need no database: unless remembered (a repeated question), they
        # are computed in threads (e5's C engine and numpy release the GIL; e5's ~30 ms is the
        # search's largest cost) while the corpus is read.
        e5_task = _vector_task(e5.encode_query, query)
        use_task = _vector_task(embeddings.encode_query, query)
        try:
            version = await repository.corpus_version(session, tenant_id)
            matrix = await self._matrix(session, tenant_id, version)
            use_vector = await use_task
            e5_vector = await e5_task
        finally:
            for task in (e5_task, use_task):
                if not task.done():
                    task.cancel()
        if len(matrix) <= INLINE_RANK_ROWS:  # less work than the hop to a thread and back
            top, scores = _ranked(matrix, query, e5_vector, use_vector, limit)
        else:
            top, scores = await asyncio.to_thread(
                _ranked, matrix, query, e5_vector, use_vector, limit
            )
        rows = await self._passages(session, tenant_id, version, [matrix.chunk_id(i) for i in top])
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
        rows = await self._passages(session, tenant_id, version, top)
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
