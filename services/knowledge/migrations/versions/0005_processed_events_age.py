"""processed_events by age: the retention purge deletes old claims through this index

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "knowledge"


def upgrade() -> None:
    # if_not_exists: databases built while the first migration still created
    # processed_events from the live table definition got the index from it (its DDL is
    # frozen now, without it).
    op.create_index(
        "ix_processed_events_processed_at",
        "processed_events",
        ["processed_at"],
        schema=SCHEMA,
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index("ix_processed_events_processed_at", "processed_events", schema=SCHEMA)
