"""LLM spend per business and month, rate-limit counters, unknown reply costs as null

Revision ID: 0004
Revises: 0003
Create Date: 2027-01-20
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "responder"


def upgrade() -> None:
    op.create_table(
        "llm_spend",
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "month", name="pk_llm_spend"),
        schema=SCHEMA,
    )
    op.create_table(
        "rate_limit_buckets",
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_rate_limit_buckets"),
        schema=SCHEMA,
    )
    op.alter_column("replies", "cost_usd", nullable=True, schema=SCHEMA)
    # Models missing from the old price table were costed at 0 although they used tokens:
    # their cost is unknown, not free.
    op.execute(
        "update responder.replies set cost_usd = null"
        " where cost_usd = 0 and (tokens_in > 0 or tokens_out > 0)"
    )
    # This month's spend so far, so a budget counts from the start of the month.
    op.execute(
        "insert into responder.llm_spend (tenant_id, month, cost_usd)"
        " select tenant_id, date_trunc('month', now() at time zone 'UTC')::date,"
        " coalesce(sum(cost_usd), 0) from responder.replies"
        " where created_at >= date_trunc('month', now() at time zone 'UTC') at time zone 'UTC'"
        " group by tenant_id"
    )


def downgrade() -> None:
    op.execute("update responder.replies set cost_usd = 0 where cost_usd is null")
    op.alter_column("replies", "cost_usd", nullable=False, schema=SCHEMA)
    op.drop_table("rate_limit_buckets", schema=SCHEMA)
    op.drop_table("llm_spend", schema=SCHEMA)
