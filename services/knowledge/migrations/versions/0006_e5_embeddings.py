"""chunks get a second embedding: multilingual-e5-small (float16, 384 dims)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

NULL until the background backfill has embedded the chunk (e5 is too slow to run while a
document is indexed). Chunks stored before this migration are NULL too, so the backfill
embeds existing tenants' passages after the upgrade; no reindex is needed. The partial index
keeps finding the chunks still to embed cheap however large the table is.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE knowledge.chunk_embeddings ADD COLUMN e5 bytea")
    op.execute(
        "CREATE INDEX ix_chunk_embeddings_e5_missing ON knowledge.chunk_embeddings (chunk_id)"
        " WHERE e5 IS NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX knowledge.ix_chunk_embeddings_e5_missing")
    op.execute("ALTER TABLE knowledge.chunk_embeddings DROP COLUMN e5")
