"""contacts: the team's notes and custom attributes (PATCH /api/contacts/{id})

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "ingest"


def upgrade() -> None:
    op.add_column("contacts", sa.Column("notes", sa.Text()), schema=SCHEMA)
    op.add_column(
        "contacts",
        sa.Column("attributes", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_column("contacts", "attributes", schema=SCHEMA)
    op.drop_column("contacts", "notes", schema=SCHEMA)
