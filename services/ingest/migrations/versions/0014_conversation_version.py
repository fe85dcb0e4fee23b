"""conversations.version: goes up by one with every change, so live updates apply in order

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "ingest"


def upgrade() -> None:
    # Existing rows start at 1, like new ones (the server default fills them).
    op.add_column(
        "conversations",
        sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("1")),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_column("conversations", "version", schema=SCHEMA)
