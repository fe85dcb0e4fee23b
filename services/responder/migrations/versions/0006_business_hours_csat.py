"""business hours (and the auto-replies sent outside them), CSAT settings, resolutions heard,
CSAT responses for analytics

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "responder"
NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "business_hours",
        sa.Column("tenant_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("weekly", JSONB, nullable=False),
        sa.Column("holidays", JSONB, nullable=False),
        sa.Column("auto_reply", sa.Text),
        sa.Column("outside_hours", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "auto_replies_sent",
        sa.Column("conversation_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("period_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("message_id", UUID(as_uuid=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_auto_replies_sent_tenant_id", "auto_replies_sent", ["tenant_id"], schema=SCHEMA
    )
    op.create_table(
        "csat_settings",
        sa.Column("tenant_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("template_name", sa.String(512)),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "conversation_states",
        sa.Column("conversation_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "csat_responses",
        sa.Column("request_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("conversation_id", UUID(as_uuid=True), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("assignee_id", UUID(as_uuid=True)),
        sa.Column("ai_resolved", sa.Boolean, nullable=False),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_csat_responses_tenant_id",
        "csat_responses",
        ["tenant_id", "responded_at"],
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in (
        "csat_responses",
        "conversation_states",
        "csat_settings",
        "auto_replies_sent",
        "business_hours",
    ):
        op.drop_table(table, schema=SCHEMA)
