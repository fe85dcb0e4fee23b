"""conversations: the customer message whose turn the AI handed off

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "conversations",
        sa.Column("ai_handoff_message_id", sa.UUID(as_uuid=True)),
        schema="ingest",
    )


def downgrade() -> None:
    op.drop_column("conversations", "ai_handoff_message_id", schema="ingest")
