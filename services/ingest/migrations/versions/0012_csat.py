"""CSAT: the rating requests sent after a resolution (and their first answer), the rating on
the conversation, and interactive (reply-buttons) outbound messages

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "ingest"


def upgrade() -> None:
    op.add_column("messages", sa.Column("interactive", JSONB), schema=SCHEMA)
    op.add_column("conversations", sa.Column("csat_score", sa.SmallInteger), schema=SCHEMA)
    op.add_column(
        "conversations",
        sa.Column("csat_responded_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.create_table(
        "csat_requests",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column(
            "conversation_id",
            UUID(as_uuid=True),
            sa.ForeignKey(f"{SCHEMA}.conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("channel_id", UUID(as_uuid=True), nullable=False),
        sa.Column("contact_id", UUID(as_uuid=True), nullable=False),
        sa.Column("message_id", UUID(as_uuid=True)),
        sa.Column("assignee_id", UUID(as_uuid=True)),
        sa.Column("ai_resolved", sa.Boolean, nullable=False),
        sa.Column("score", sa.SmallInteger),
        sa.Column("answer_message_id", UUID(as_uuid=True)),
        sa.Column("responded_at", sa.DateTime(timezone=True)),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_csat_requests_contact",
        "csat_requests",
        ["channel_id", "contact_id", "created_at"],
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("csat_requests", schema=SCHEMA)
    op.drop_column("conversations", "csat_responded_at", schema=SCHEMA)
    op.drop_column("conversations", "csat_score", schema=SCHEMA)
    op.drop_column("messages", "interactive", schema=SCHEMA)
