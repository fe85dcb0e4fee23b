"""outbound delivery: when a message may next be attempted

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "messages",
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        schema="ingest",
    )


def downgrade() -> None:
    op.drop_column("messages", "next_attempt_at", schema="ingest")
