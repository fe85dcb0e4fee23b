"""knowledge's tables: documents (with their bytes), their chunks, and a per-tenant version."""

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy import text as sql
from sqlalchemy.dialects.postgresql import REGCONFIG, TSVECTOR, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.db import make_metadata
from common.idempotency import processed_events_table
from common.outbox import outbox_table

SCHEMA = "knowledge"
metadata = make_metadata(SCHEMA)
outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)


class Base(DeclarativeBase):
    metadata = metadata


class Document(Base):
    """One uploaded file. `status`: processing → indexed | failed (re-index: back to processing)."""

    __tablename__ = "documents"
    __table_args__ = (
        # The same file twice in one tenant is one document.
        UniqueConstraint("tenant_id", "sha256", name="uq_documents_tenant_id_sha256"),
        Index("ix_documents_tenant_created", "tenant_id", "created_at", "id"),
        # Workers look for documents whose lease ran out.
        Index(
            "ix_documents_processing_lease",
            "leased_until",
            postgresql_where=sql("status = 'processing'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    file_type: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    # Loaded only when asked for (undefer): lists and searches never drag the bytes along.
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True, deferred_raiseload=True)
    status: Mapped[str] = mapped_column(String(16), default="processing")
    error: Mapped[str | None] = mapped_column(Text)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    language: Mapped[str | None] = mapped_column(String(16))
    # The lease of the worker indexing it (NULL: waiting in the queue or done).
    lease_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    leased_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    indexed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Chunk(Base):
    """A passage of a document: what search returns and the AI cites."""

    __tablename__ = "chunks"
    __table_args__ = (
        Index("ix_chunks_document", "document_id", "position"),
        # Full text within one tenant (btree_gin); fastupdate off (migration 0003).
        Index(
            "ix_chunks_tenant_tsv",
            "tenant_id",
            "tsv",
            postgresql_using="gin",
            postgresql_with={"fastupdate": "off"},
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    document_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("documents.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    page_number: Mapped[int | None] = mapped_column(Integer)
    section: Mapped[str | None] = mapped_column(Text)
    # "Document title: section": embedded and keyword-indexed with the text.
    context: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    # The text search configuration of the chunk's language ('simple' when unknown).
    language: Mapped[str] = mapped_column(REGCONFIG)
    tsv: Mapped[str] = mapped_column(TSVECTOR)


class ChunkEmbedding(Base):
    """A chunk's float16 sentence embeddings (USE 512 dims, e5 384). Their own table: 1-2 KB
    per row would halve the chunks per page that a full-text search reads."""

    __tablename__ = "chunk_embeddings"
    __table_args__ = (
        Index("ix_chunk_embeddings_tenant", "tenant_id"),
        # What the e5 backfill has left to embed.
        Index("ix_chunk_embeddings_e5_missing", "chunk_id", postgresql_where=sql("e5 IS NULL")),
    )

    chunk_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("chunks.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    # multilingual-e5-small, float16, 384 dims; NULL until the background backfill embeds it.
    e5: Mapped[bytes | None] = mapped_column(LargeBinary)


class CorpusVersion(Base):
    """Bumped in the transaction that changes a tenant's chunks: in-memory caches compare it."""

    __tablename__ = "corpus_versions"

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
