"""a conversation's handoff reason; an AI reply's sources

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("handoff_reason", sa.Text()), schema="ingest")
    op.add_column(
        "messages", sa.Column("sources", postgresql.JSONB(astext_type=sa.Text())), schema="ingest"
    )


def downgrade() -> None:
    op.drop_column("messages", "sources", schema="ingest")
    op.drop_column("conversations", "handoff_reason", schema="ingest")
