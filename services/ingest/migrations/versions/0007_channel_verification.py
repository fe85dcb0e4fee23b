"""channels: when Meta confirmed a live channel's number; sandbox channels get ids of ours

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "channels",
        sa.Column("verified_at", sa.DateTime(timezone=True)),
        schema="ingest",
    )
    # A connected sandbox channel may hold a real business's number (anyone could claim one
    # without a token): it gets a platform id instead, which frees the number for its owner.
    # Simulated customers keep working (they use the channel's id, whatever it is).
    op.execute(
        """
        update ingest.channels
           set phone_number_id = 'sandbox-' || replace(gen_random_uuid()::text, '-', '')
         where access_token_encrypted is null
           and deleted_at is null
           and phone_number_id not like 'sandbox-%'
        """
    )


def downgrade() -> None:
    # The sandbox ids stay the platform's: the numbers they held are not handed back.
    op.drop_column("channels", "verified_at", schema="ingest")
