"""messages, outbox and processed events

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from common.migrations import create_messaging_tables, drop_messaging_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "ingest"


def upgrade() -> None:
    create_messaging_tables(SCHEMA)
    op.create_table(
        "messages",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("phone_number_id", sa.String(64), nullable=False),
        sa.Column("wamid", sa.String(255), nullable=False),
        sa.Column("wa_id", sa.String(64)),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("text", sa.Text()),
        sa.Column("raw", postgresql.JSONB(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.UniqueConstraint("wamid", name="uq_messages_wamid"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("messages", schema=SCHEMA)
    drop_messaging_tables(SCHEMA)
