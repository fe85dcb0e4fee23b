"""AI settings, prompt templates, reply log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "responder"


def upgrade() -> None:
    op.create_table(
        "prompt_templates",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_prompt_templates"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_prompt_templates_tenant_id"),
        schema=SCHEMA,
    )
    op.create_index("ix_prompt_templates_tenant_id", "prompt_templates", ["tenant_id"], schema=SCHEMA)
    op.create_table(
        "ai_settings",
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("model", sa.String(200)),
        sa.Column("persona", sa.Text(), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("temperature", sa.Float(), nullable=False),
        sa.Column("max_output_tokens", sa.Integer(), nullable=False),
        sa.Column("history_messages", sa.Integer(), nullable=False),
        sa.Column("handoff_keywords", postgresql.JSONB(), nullable=False),
        sa.Column("fallback_message", sa.Text(), nullable=False),
        sa.Column("media_without_text", sa.String(16), nullable=False),
        sa.Column("prompt_template_id", postgresql.UUID(as_uuid=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_ai_settings"),
        sa.ForeignKeyConstraint(["prompt_template_id"], ["responder.prompt_templates.id"],
                                ondelete="SET NULL", name="fk_ai_settings_prompt_template_id_prompt_templates"),
        schema=SCHEMA,
    )
    op.create_table(
        "replies",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("conversation_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("message_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("customer_message_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("text", sa.Text()),
        sa.Column("handoff_reason", sa.Text()),
        sa.Column("sources", postgresql.JSONB(), nullable=False),
        sa.Column("model", sa.String(200)),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_replies"),
        sa.UniqueConstraint("message_id", name="uq_replies_message_id"),
        schema=SCHEMA,
    )
    op.create_index("ix_replies_tenant_id", "replies", ["tenant_id"], schema=SCHEMA)
    op.create_table(
        "conversation_turns",
        sa.Column("conversation_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("latest_message_id", postgresql.UUID(as_uuid=True)),
        sa.Column("latest_at", sa.DateTime(timezone=True)),
        sa.Column("answered_message_id", postgresql.UUID(as_uuid=True)),
        sa.Column("memory_reset_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("conversation_id", name="pk_conversation_turns"),
        schema=SCHEMA,
    )
    op.create_table(
        "tracked_messages",
        sa.Column("message_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("conversation_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("author", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name="pk_tracked_messages"),
        schema=SCHEMA,
    )
    op.create_table(
        "sent_marks",
        sa.Column("message_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name="pk_sent_marks"),
        schema=SCHEMA,
    )
    op.create_table(
        "tenant_names",
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_tenant_names"),
        schema=SCHEMA,
    )
    op.create_index("ix_tracked_messages_tenant_id", "tracked_messages", ["tenant_id", "created_at"],
                    schema=SCHEMA)


def downgrade() -> None:
    for table in ("tenant_names", "sent_marks", "tracked_messages", "conversation_turns", "replies", "ai_settings",
                  "prompt_templates"):
        op.drop_table(table, schema=SCHEMA)
