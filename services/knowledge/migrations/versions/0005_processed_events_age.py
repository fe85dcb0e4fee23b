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
    # A database built from scratch has it already: the first migration creates
    # processed_events from the live table definition, which now holds the index.
    op.create_index(
        "ix_processed_events_processed_at",
        "processed_events",
        ["processed_at"],
        schema=SCHEMA,
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index("ix_processed_events_processed_at", "processed_events", schema=SCHEMA)
