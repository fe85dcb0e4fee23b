"""conversation turns: a lease on the turn being answered

Revision ID: 0003
Revises: 0002
Create Date: 2027-01-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "responder"


def upgrade() -> None:
    op.add_column("conversation_turns", sa.Column("lease_id", postgresql.UUID(as_uuid=True)),
                  schema=SCHEMA)
    op.add_column("conversation_turns",
                  sa.Column("leased_message_id", postgresql.UUID(as_uuid=True)), schema=SCHEMA)
    op.add_column("conversation_turns", sa.Column("leased_until", sa.DateTime(timezone=True)),
                  schema=SCHEMA)


def downgrade() -> None:
    for column in ("leased_until", "leased_message_id", "lease_id"):
        op.drop_column("conversation_turns", column, schema=SCHEMA)
