"""full-text GIN index without a pending list (fastupdate off)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

With `fastupdate` on (the default) new chunks go to the index's unsorted pending list, which
every search then scans in full until autovacuum (not a manual ANALYZE) merges it: after a
bulk of documents, ~2,700 pending entries cost each search 5-10 ms. Searches far outnumber
inserts here, so inserts pay instead (a few ms per 200-chunk document).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "knowledge.ix_chunks_tenant_tsv"


def upgrade() -> None:
    op.execute(f"ALTER INDEX {INDEX} SET (fastupdate = off)")
    # What is pending now moves into the index proper.
    op.execute(f"SELECT gin_clean_pending_list('{INDEX}'::regclass)")


def downgrade() -> None:
    op.execute(f"ALTER INDEX {INDEX} RESET (fastupdate)")
