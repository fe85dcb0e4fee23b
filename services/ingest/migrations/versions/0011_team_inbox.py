"""team inbox: assignees, private notes, labels, canned replies, per-member read markers,
team members and presence (learned from auth's events and from requests), inbox settings

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "ingest"


def _now() -> sa.Column[sa.DateTime]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def upgrade() -> None:
    op.add_column("conversations", sa.Column("assignee_id", UUID(as_uuid=True)), schema=SCHEMA)
    op.create_index(
        "ix_conversations_tenant_assignee",
        "conversations",
        ["tenant_id", "assignee_id"],
        schema=SCHEMA,
    )
    op.add_column("messages", sa.Column("author_id", UUID(as_uuid=True)), schema=SCHEMA)

    op.create_table(
        "team_members",
        sa.Column("user_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False, index=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(256)),
        sa.Column("email", sa.String(320)),
        sa.Column("last_assigned_at", sa.DateTime(timezone=True)),
        _now(),
        schema=SCHEMA,
    )
    op.create_table(
        "team_presence",
        sa.Column("user_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False, index=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "inbox_settings",
        sa.Column("tenant_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("round_robin", sa.Boolean, nullable=False, server_default=sa.false()),
        schema=SCHEMA,
    )
    op.create_table(
        "labels",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("color", sa.String(7), nullable=False),
        _now(),
        sa.UniqueConstraint("tenant_id", "name"),
        schema=SCHEMA,
    )
    op.create_table(
        "conversation_labels",
        sa.Column(
            "conversation_id",
            UUID(as_uuid=True),
            sa.ForeignKey(f"{SCHEMA}.conversations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "label_id",
            UUID(as_uuid=True),
            sa.ForeignKey(f"{SCHEMA}.labels.id", ondelete="CASCADE"),
            primary_key=True,
            index=True,
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "canned_replies",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("shortcut", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        _now(),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.UniqueConstraint("tenant_id", "shortcut"),
        schema=SCHEMA,
    )
    op.create_table(
        "conversation_reads",
        sa.Column("user_id", UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "conversation_id",
            UUID(as_uuid=True),
            sa.ForeignKey(f"{SCHEMA}.conversations.id", ondelete="CASCADE"),
            primary_key=True,
            index=True,
        ),
        sa.Column("last_read_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in (
        "conversation_reads",
        "canned_replies",
        "conversation_labels",
        "labels",
        "inbox_settings",
        "team_presence",
        "team_members",
    ):
        op.drop_table(table, schema=SCHEMA)
    op.drop_column("messages", "author_id", schema=SCHEMA)
    op.drop_index("ix_conversations_tenant_assignee", "conversations", schema=SCHEMA)
    op.drop_column("conversations", "assignee_id", schema=SCHEMA)
