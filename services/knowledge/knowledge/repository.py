"""Every query of knowledge's tables; each one starts from the tenant (but the e5 backfill's,
which serves every tenant in turn)."""

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from common.pagination import PageQuery, keyset
from knowledge import e5
from knowledge.models import Chunk, ChunkEmbedding, CorpusVersion, Document


def documents(tenant_id: uuid.UUID) -> Select[Document]:
    return select(Document).where(Document.tenant_id == tenant_id)


async def get_document(
    session: AsyncSession, tenant_id: uuid.UUID, document_id: uuid.UUID, *, for_update: bool = False
) -> Document | None:
    stmt = documents(tenant_id).where(Document.id == document_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def document_content(
    session: AsyncSession, tenant_id: uuid.UUID, document_id: uuid.UUID
) -> bytes:
    """The uploaded file itself (deferred on the model: only the indexer reads it)."""
    stmt = (
        documents(tenant_id).where(Document.id == document_id).with_only_columns(Document.content)
    )
    return (await session.execute(stmt)).scalar_one()


async def get_by_sha256(session: AsyncSession, tenant_id: uuid.UUID, sha256: str) -> Document:
    stmt = documents(tenant_id).where(Document.sha256 == sha256)
    return (await session.execute(stmt)).scalar_one()


async def find_by_sha256(
    session: AsyncSession, tenant_id: uuid.UUID, sha256: str
) -> Document | None:
    stmt = documents(tenant_id).where(Document.sha256 == sha256)
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_tenant_documents(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Serialise the business's uploads until commit (its quota is checked, then used)."""
    await session.execute(
        text("select pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"knowledge.documents:{tenant_id}"},
    )


async def tenant_usage(session: AsyncSession, tenant_id: uuid.UUID) -> tuple[int, int]:
    """(documents, bytes) the business stores, whatever their status."""
    stmt = select(func.count(), func.coalesce(func.sum(Document.size_bytes), 0)).where(
        Document.tenant_id == tenant_id
    )
    count, size = (await session.execute(stmt)).one()
    return int(count), int(size)


async def insert_document(session: AsyncSession, values: dict[str, Any]) -> Document | None:
    """None when the tenant already has a document with these bytes (same sha256)."""
    stmt = (
        insert(Document)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["tenant_id", "sha256"])
        .returning(Document)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_documents(
    session: AsyncSession, tenant_id: uuid.UUID, page: PageQuery
) -> list[Document]:
    """Newest first; one more than the page (see common.pagination.keyset)."""
    stmt = keyset(documents(tenant_id), page, Document.created_at, Document.id, descending=True)
    return list((await session.execute(stmt)).scalars())


async def bump_corpus_version(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    await session.execute(
        insert(CorpusVersion)
        .values(tenant_id=tenant_id, version=1)
        .on_conflict_do_update(
            index_elements=["tenant_id"], set_={"version": CorpusVersion.version + 1}
        )
    )


async def corpus_version(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    stmt = select(CorpusVersion.version).where(CorpusVersion.tenant_id == tenant_id)
    return int((await session.scalar(stmt)) or 0)


async def delete_chunks(
    session: AsyncSession, tenant_id: uuid.UUID, document_id: uuid.UUID
) -> None:
    await session.execute(
        delete(Chunk).where(Chunk.tenant_id == tenant_id, Chunk.document_id == document_id)
    )


async def insert_chunks(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Rows carry `ts_config` (the tsvector is computed by Postgres with that configuration),
    `context` (title and section: indexed with weight A), `embedding` (USE, bytes or None)
    and optionally `e5` (bytes, or None: the backfill computes it later)."""
    if not rows:
        return
    await session.execute(
        text(
            "INSERT INTO knowledge.chunks "
            "(id, tenant_id, document_id, position, page_number, section, context, text, language,"
            " tsv) VALUES (:id, :tenant_id, :document_id, :position, :page_number, :section,"
            " :context, :text,"
            " CAST(:ts_config AS regconfig),"
            " setweight(to_tsvector(CAST(:ts_config AS regconfig), coalesce(:context, '')), 'A')"
            " || to_tsvector(CAST(:ts_config AS regconfig), :text))"
        ),
        rows,
    )
    vectors = [
        {
            "chunk_id": r["id"],
            "tenant_id": r["tenant_id"],
            "embedding": r["embedding"],
            "e5": r.get("e5"),
        }
        for r in rows
        if r["embedding"] is not None
    ]
    if vectors:
        await session.execute(insert(ChunkEmbedding), vectors)


async def claim_lease(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    document_id: uuid.UUID,
    lease_id: uuid.UUID,
    lease_s: float,
) -> Document | None:
    """Take the document if it waits for indexing and no live worker holds it."""
    stmt = (
        update(Document)
        .where(
            Document.tenant_id == tenant_id,
            Document.id == document_id,
            Document.status == "processing",
            or_(Document.leased_until.is_(None), Document.leased_until < func.now()),
        )
        .values(
            lease_id=lease_id,
            leased_until=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, lease_s),
            attempts=Document.attempts + 1,
        )
        .returning(Document)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def renew_lease(
    session: AsyncSession, document_id: uuid.UUID, lease_id: uuid.UUID, lease_s: float
) -> bool:
    stmt = (
        update(Document)
        .where(Document.id == document_id, Document.lease_id == lease_id)
        .values(leased_until=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, lease_s))
        .returning(Document.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def leased_document(
    session: AsyncSession, document_id: uuid.UUID, lease_id: uuid.UUID
) -> Document | None:
    """The document, locked, if this lease still owns it (a deleted or re-taken one is not)."""
    stmt = (
        select(Document)
        .where(
            Document.id == document_id,
            Document.lease_id == lease_id,
            Document.status == "processing",
        )
        .with_for_update()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def expired_leases(session: AsyncSession, limit: int = 100) -> list[Document]:
    """Documents whose worker stopped renewing its lease (it died): locked for the sweeper."""
    stmt = (
        select(Document)
        .where(Document.status == "processing", Document.leased_until < func.now())
        .order_by(Document.leased_until)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(stmt)).scalars())


# --- search ----------------------------------------------------------------------------------


async def tenant_languages(session: AsyncSession, tenant_id: uuid.UUID) -> list[str | None]:
    stmt = (
        select(Document.language)
        .where(Document.tenant_id == tenant_id, Document.status == "indexed")
        .distinct()
    )
    return list((await session.execute(stmt)).scalars())


def _tsqueries(config: str, relaxed: bool) -> str:
    """`every` (all terms, websearch syntax) and `terms` (what ranks: all, or any, of them)."""
    every = f"websearch_to_tsquery('{config}', :query)"
    terms = every
    if relaxed:
        terms = (
            "(SELECT CAST(string_agg(quote_literal(lexeme), ' | ') AS tsquery) FROM "
            f"unnest(tsvector_to_array(to_tsvector('{config}', :query))) AS lexeme)"
        )
    return f"SELECT {every} AS every, {terms} AS terms"


def _scope(config: str) -> str:
    return f"c.tenant_id = :tenant_id AND c.language = '{config}'::regconfig"


async def full_text_candidates(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    query: str,
    configs: list[str],
    limit: int,
    *,
    relaxed: bool,
    cap: int,
    candidates: list[uuid.UUID],
) -> tuple[list[tuple[uuid.UUID, float, bool]], bool]:
    """((chunk id, ts_rank_cd, has every term) best first, too common) for `query`.

    Strict: `websearch_to_tsquery` (every term; quotes and -exclusions honoured). Relaxed
    (keyword-only search): also chunks with only some of the terms, after those with all.
    `configs` are whitelisted text search configurations (one per language of the tenant's
    documents).

    The cost is bounded: ranking means reading every matching row, and a question made of
    common words matches thousands (16,000 rows: ~30 ms). So at most `cap` matches are read
    per kind. Strict: when there are fewer, all are ranked (exact); when there are more,
    the words are too common to rank by (they hardly discriminate): none are, and `too
    common` is True. `candidates` (the embedding's nearest chunks) that hold every term are
    ranked too: the caller asks again with them (and `cap` 0) after a `too common`.
    Relaxed: the first `cap` matches of each kind are ranked. Matches are gathered in
    MATERIALIZED CTEs so that they are planned in full (a bitmap scan of the GIN index),
    not as the sequential scan the planner would pick to reach a LIMIT early.
    """
    ctes: list[str] = []
    parts: list[str] = []
    for i, config in enumerate(configs):
        ctes += [
            f"q{i} AS ({_tsqueries(config, relaxed)})",
            f"strict{i} AS MATERIALIZED (SELECT c.id, c.tsv FROM knowledge.chunks c, q{i}"
            f" WHERE {_scope(config)} AND c.tsv @@ q{i}.every)",
        ]
        # Later sources add only rows the earlier ones lack; UNION ALL keeps the scan's
        # order, so ties in rank break as they did before the cap.
        if relaxed:
            ctes += [
                f"some{i} AS MATERIALIZED (SELECT c.id, c.tsv FROM knowledge.chunks c, q{i}"
                f" WHERE {_scope(config)} AND c.tsv @@ q{i}.terms)",
                f"first{i} AS (SELECT id, tsv FROM some{i} LIMIT :cap)",
                f"found{i} AS (SELECT id, tsv FROM first{i} UNION ALL"
                f" SELECT s.id, s.tsv FROM (SELECT id, tsv FROM strict{i} LIMIT :cap) s"
                f" WHERE NOT EXISTS (SELECT 1 FROM first{i} f WHERE f.id = s.id))",
            ]
        else:
            ctes += [
                # Every strict match if there are fewer than `cap`, else none.
                f"first{i} AS (SELECT id, tsv FROM (SELECT id, tsv, count(*) OVER () AS n"
                f" FROM (SELECT id, tsv FROM strict{i} LIMIT :cap) s) counted WHERE n < :cap)",
                # The candidates, fetched by primary key and then tested (materialized:
                # pushed into the scan, the test would have the planner AND the key with
                # the GIN index's bitmap, which for common words costs what we avoid).
                f"near{i} AS MATERIALIZED (SELECT c.id, c.tsv FROM knowledge.chunks c"
                f" WHERE {_scope(config)} AND c.id = ANY(CAST(:candidates AS uuid[])))",
                f"found{i} AS (SELECT id, tsv FROM first{i} UNION ALL"
                f" SELECT n.id, n.tsv FROM near{i} n, q{i} WHERE n.tsv @@ q{i}.every"
                f" AND NOT EXISTS (SELECT 1 FROM first{i} f WHERE f.id = n.id))",
            ]
        parts.append(
            f"SELECT f.id, ts_rank_cd(f.tsv, q{i}.terms) AS rank,"
            f" f.tsv @@ q{i}.every AS complete FROM found{i} f, q{i}"
        )
        if not relaxed:
            # A marker row (no id) when the strict matches were too many to rank.
            parts.append(
                f"SELECT NULL, 0, false FROM (SELECT count(*) AS n FROM"
                f" (SELECT 1 FROM strict{i} LIMIT :cap) s) m WHERE m.n >= :cap AND m.n > 0"
            )
    sql = (
        "WITH "
        + ", ".join(ctes)
        + " SELECT * FROM ("
        + " UNION ALL ".join(parts)
        + ") r ORDER BY id IS NULL DESC, complete DESC, rank DESC LIMIT :limit"
    )
    params: dict[str, Any] = {
        "tenant_id": tenant_id,
        "query": query,
        "limit": limit + len(configs),
        "cap": cap,
    }
    if not relaxed:
        params["candidates"] = candidates
    rows = list(await session.execute(text(sql), params))
    ranked = [(row.id, float(row.rank), bool(row.complete)) for row in rows if row.id]
    return ranked[:limit], len(ranked) < len(rows)


# Chunks per row of `tenant_passages`: ~1 MiB of vectors and up to ~1.5 MiB of text per
# value, each decoded in a few ms.
PASSAGES_PER_ROW = 1024


async def tenant_passages(
    session: AsyncSession, tenant_id: uuid.UUID
) -> list[tuple[bytes, bytes, bytes, bytes]]:
    """Every chunk of the tenant, in chunk id order: ids (16 bytes each), float16 USE and e5
    vectors (zeros for a chunk without one) and "context\\ntext" passages (UTF-8, separated
    by NUL), concatenated by Postgres into a row per PASSAGES_PER_ROW chunks. A row per
    chunk would have the event loop decode tens of thousands of rows (and their objects),
    one value of everything would block it for one long decode; ~2 MiB pieces do neither.
    They are joined, and the keyword index built, in a thread (`embeddings.build_matrix`)."""
    rows = await session.execute(
        text(
            "select string_agg(uuid_send(id), ''::bytea order by id),"
            " string_agg(coalesce(embedding, CAST(:zeros AS bytea)), ''::bytea order by id),"
            " string_agg(coalesce(e5, CAST(:e5_zeros AS bytea)), ''::bytea order by id),"
            " string_agg(convert_to(coalesce(nullif(context, '') || E'\\n', '') || text,"
            " 'UTF8'), decode('00', 'hex') order by id)"
            " from (select c.id, e.embedding, e.e5, c.context, c.text,"
            " (row_number() over (order by c.id) - 1) / :per_row as piece"
            " from knowledge.chunks c left join knowledge.chunk_embeddings e"
            " on e.chunk_id = c.id and e.tenant_id = c.tenant_id"
            " where c.tenant_id = :tenant_id) s"
            " group by piece order by piece"
        ),
        {
            "tenant_id": tenant_id,
            "per_row": PASSAGES_PER_ROW,
            "zeros": bytes(2 * 512),
            "e5_zeros": e5.ZERO,
        },
    )
    return [tuple(row) for row in rows]


@dataclass(frozen=True)
class PendingE5:
    """Chunks of one document whose e5 vector is still to compute."""

    tenant_id: uuid.UUID
    document_id: uuid.UUID
    chunk_ids: list[uuid.UUID]
    passages: list[str]  # "context\ntext", as USE embeds them


async def pending_e5(session: AsyncSession, limit: int) -> PendingE5 | None:
    """Up to `limit` chunks without an e5 vector, all of one document, in passage order: the
    most recently indexed document that has any (a new upload goes first, the backlog of
    chunks stored before e5 existed after it; a document is finished before the next)."""
    first = (
        await session.execute(
            text(
                "SELECT c.tenant_id, c.document_id FROM knowledge.chunk_embeddings e"
                " JOIN knowledge.chunks c ON c.id = e.chunk_id"
                " JOIN knowledge.documents d ON d.id = c.document_id"
                " WHERE e.e5 IS NULL"
                " ORDER BY d.indexed_at DESC NULLS LAST, d.id LIMIT 1"
            )
        )
    ).first()
    if first is None:
        return None
    tenant_id, document_id = first
    rows = (
        await session.execute(
            text(
                "SELECT c.id, coalesce(nullif(c.context, '') || E'\\n', '') || c.text"
                " FROM knowledge.chunks c JOIN knowledge.chunk_embeddings e ON e.chunk_id = c.id"
                " WHERE c.tenant_id = :tenant_id AND c.document_id = :document_id"
                " AND e.e5 IS NULL ORDER BY c.position, c.id LIMIT :limit"
            ),
            {"tenant_id": tenant_id, "document_id": document_id, "limit": limit},
        )
    ).all()
    return PendingE5(tenant_id, document_id, [r[0] for r in rows], [r[1] for r in rows])


async def store_e5(session: AsyncSession, chunk_ids: list[uuid.UUID], vectors: list[bytes]) -> None:
    """A chunk deleted or re-indexed meanwhile is simply not there any more: no row updated."""
    await session.execute(
        text("UPDATE knowledge.chunk_embeddings SET e5 = :e5 WHERE chunk_id = :id AND e5 IS NULL"),
        [{"id": i, "e5": v} for i, v in zip(chunk_ids, vectors, strict=True)],
    )


async def document_has_pending_e5(session: AsyncSession, document_id: uuid.UUID) -> bool:
    return bool(
        await session.scalar(
            text(
                "SELECT EXISTS (SELECT 1 FROM knowledge.chunk_embeddings e"
                " JOIN knowledge.chunks c ON c.id = e.chunk_id"
                " WHERE c.document_id = :document_id AND e.e5 IS NULL)"
            ),
            {"document_id": document_id},
        )
    )


async def chunks_with_documents(
    session: AsyncSession, tenant_id: uuid.UUID, chunk_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Any]:
    rows = await session.execute(
        select(
            Chunk.id,
            Chunk.document_id,
            Document.filename,
            Chunk.text,
            Chunk.page_number,
            Chunk.section,
            Chunk.position,
        )
        .join(Document, Document.id == Chunk.document_id)
        .where(Chunk.tenant_id == tenant_id, Chunk.id.in_(chunk_ids))
    )
    return {row.id: row for row in rows}
