"""outbox and processed events

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from common.migrations import create_messaging_tables, drop_messaging_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "responder"


def upgrade() -> None:
    create_messaging_tables(SCHEMA)


def downgrade() -> None:
    drop_messaging_tables(SCHEMA)
