"""chunks keep their context (document title and section heading)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

The context is embedded and indexed with the passage; the in-memory keyword index of a
tenant is rebuilt from it and the text. Chunks indexed before have none (reindex to add it).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE knowledge.chunks ADD COLUMN context text")


def downgrade() -> None:
    op.execute("ALTER TABLE knowledge.chunks DROP COLUMN context")
