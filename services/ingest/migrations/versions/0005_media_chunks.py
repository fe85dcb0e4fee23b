"""inbound media stored in chunks, so a download streams to the database and a serve
streams from it (no whole file in memory)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "media_chunks",
        sa.Column("message_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["ingest.media_files.message_id"],
            name=op.f("fk_media_chunks_message_id_media_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", "seq", name=op.f("pk_media_chunks")),
        schema="ingest",
    )
    # Files stored whole before this revision become one chunk each.
    op.execute(
        "insert into ingest.media_chunks (message_id, seq, content) "
        "select message_id, 0, content from ingest.media_files"
    )
    op.drop_column("media_files", "content", schema="ingest")


def downgrade() -> None:
    op.add_column("media_files", sa.Column("content", sa.LargeBinary()), schema="ingest")
    op.execute(
        "update ingest.media_files f set content = "
        "(select string_agg(c.content, ''::bytea order by c.seq) from ingest.media_chunks c "
        "where c.message_id = f.message_id)"
    )
    op.execute("update ingest.media_files set content = ''::bytea where content is null")
    op.alter_column("media_files", "content", nullable=False, schema="ingest")
    op.drop_table("media_chunks", schema="ingest")
