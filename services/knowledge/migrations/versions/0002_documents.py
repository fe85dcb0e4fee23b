"""documents, chunks (full-text index), chunk embeddings, corpus versions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

Needs the contrib extension btree_gin (tenant_id inside the GIN index). CREATE EXTENSION
needs a superuser or, as btree_gin is a trusted extension (PG13+), the database owner; in
production create it once as an administrator if the service's role is neither.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "knowledge"


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.create_table(
        "documents",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("file_type", sa.String(16), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("chunk_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("language", sa.String(16)),
        sa.Column("lease_id", postgresql.UUID(as_uuid=True)),
        sa.Column("leased_until", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("indexed_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_documents"),
        sa.UniqueConstraint("tenant_id", "sha256", name="uq_documents_tenant_id_sha256"),
        sa.CheckConstraint(
            "status IN ('processing', 'indexed', 'failed')", name="ck_documents_status"
        ),
        schema=SCHEMA,
    )
    # Extended storage without compression: PDFs and DOCX are compressed already.
    op.execute(f"ALTER TABLE {SCHEMA}.documents ALTER COLUMN content SET STORAGE EXTERNAL")
    op.create_index(
        "ix_documents_tenant_created", "documents", ["tenant_id", "created_at", "id"], schema=SCHEMA
    )
    op.create_index(
        "ix_documents_processing_lease",
        "documents",
        ["leased_until"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'processing'"),
    )
    op.create_table(
        "chunks",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("document_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("page_number", sa.Integer()),
        sa.Column("section", sa.Text()),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", postgresql.REGCONFIG(), nullable=False),
        sa.Column("tsv", postgresql.TSVECTOR(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chunks"),
        sa.ForeignKeyConstraint(
            ["document_id"],
            [f"{SCHEMA}.documents.id"],
            name="fk_chunks_document_id_documents",
            ondelete="CASCADE",
        ),
        schema=SCHEMA,
    )
    op.create_index("ix_chunks_document", "chunks", ["document_id", "position"], schema=SCHEMA)
    # Tenant first inside the GIN indexes (btree_gin): one tenant's matches, never the others'.
    op.execute(f"CREATE INDEX ix_chunks_tenant_tsv ON {SCHEMA}.chunks USING gin (tenant_id, tsv)")
    op.create_table(
        "chunk_embeddings",
        sa.Column("chunk_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("chunk_id", name="pk_chunk_embeddings"),
        sa.ForeignKeyConstraint(
            ["chunk_id"],
            [f"{SCHEMA}.chunks.id"],
            name="fk_chunk_embeddings_chunk_id_chunks",
            ondelete="CASCADE",
        ),
        schema=SCHEMA,
    )
    op.create_index("ix_chunk_embeddings_tenant", "chunk_embeddings", ["tenant_id"], schema=SCHEMA)
    op.create_table(
        "corpus_versions",
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_corpus_versions"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("corpus_versions", schema=SCHEMA)
    op.drop_table("chunk_embeddings", schema=SCHEMA)
    op.drop_table("chunks", schema=SCHEMA)
    op.drop_table("documents", schema=SCHEMA)
