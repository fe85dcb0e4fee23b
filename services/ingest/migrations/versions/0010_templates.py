"""templates per channel; a message's template; a channel's re-engagement template

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "ingest"


def upgrade() -> None:
    op.create_table(
        "templates",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column(
            "channel_id",
            UUID(as_uuid=True),
            sa.ForeignKey(f"{SCHEMA}.channels.id"),
            nullable=False,
        ),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("category", sa.String(32)),
        sa.Column("components", JSONB, nullable=False),
        sa.Column("meta_template_id", sa.String(64)),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.UniqueConstraint("channel_id", "name", "language"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_templates_meta_template_id", "templates", ["meta_template_id"], schema=SCHEMA
    )
    op.add_column("messages", sa.Column("template", JSONB), schema=SCHEMA)
    op.add_column("channels", sa.Column("reengagement_template", JSONB), schema=SCHEMA)
    op.add_column(
        "channels",
        sa.Column("auto_reengage", sa.Boolean, server_default=sa.false(), nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_column("channels", "auto_reengage", schema=SCHEMA)
    op.drop_column("channels", "reengagement_template", schema=SCHEMA)
    op.drop_column("messages", "template", schema=SCHEMA)
    op.drop_index("ix_templates_meta_template_id", "templates", schema=SCHEMA)
    op.drop_table("templates", schema=SCHEMA)
