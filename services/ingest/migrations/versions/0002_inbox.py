"""the inbox: channels, contacts, conversations, messages, delivery, statuses, media

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 18:43:48.496581
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The walking skeleton stored messages without a tenant: they cannot be routed, drop them.
    op.execute("delete from ingest.messages")
    op.create_table('channels',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('phone_number_id', sa.String(length=64), nullable=False),
    sa.Column('display_phone_number', sa.String(length=32), nullable=True),
    sa.Column('waba_id', sa.String(length=64), nullable=True),
    sa.Column('access_token_encrypted', sa.Text(), nullable=True),
    sa.Column('needs_reauth', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channels')),
    schema='ingest'
    )
    op.create_index(op.f('ix_ingest_channels_tenant_id'), 'channels', ['tenant_id'], unique=False, schema='ingest')
    op.create_index('uq_channels_phone_number_id_connected', 'channels', ['phone_number_id'], unique=True, schema='ingest', postgresql_where=sa.text('deleted_at IS NULL'))
    op.create_table('contacts',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('wa_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=128), nullable=True),
    sa.Column('username', sa.String(length=128), nullable=True),
    sa.Column('name', sa.String(length=256), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contacts')),
    sa.UniqueConstraint('tenant_id', 'wa_id', name=op.f('uq_contacts_tenant_id_wa_id')),
    schema='ingest'
    )
    op.create_table('pending_statuses',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('wamid', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_rank', sa.SmallInteger(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_statuses')),
    sa.UniqueConstraint('tenant_id', 'wamid', 'status', name=op.f('uq_pending_statuses_tenant_id_wamid_status')),
    schema='ingest'
    )
    op.create_table('conversations',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('channel_id', sa.UUID(), nullable=False),
    sa.Column('contact_id', sa.UUID(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='open', nullable=False),
    sa.Column('ai_enabled', sa.Boolean(), nullable=False),
    sa.Column('last_message_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_message_preview', sa.String(length=200), nullable=True),
    sa.Column('unread_count', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('last_inbound_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['ingest.channels.id'], name=op.f('fk_conversations_channel_id_channels')),
    sa.ForeignKeyConstraint(['contact_id'], ['ingest.contacts.id'], name=op.f('fk_conversations_contact_id_contacts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversations')),
    schema='ingest'
    )
    op.create_index('ix_conversations_tenant_activity', 'conversations', ['tenant_id', 'last_message_at', 'id'], unique=False, schema='ingest')
    op.create_index(op.f('ix_ingest_conversations_contact_id'), 'conversations', ['contact_id'], unique=False, schema='ingest')
    op.create_index('uq_conversations_active', 'conversations', ['channel_id', 'contact_id'], unique=True, schema='ingest', postgresql_where=sa.text("status <> 'resolved'"))
    op.create_table('delivery_attempts',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('message_id', sa.UUID(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['ingest.messages.id'], name=op.f('fk_delivery_attempts_message_id_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_attempts')),
    schema='ingest'
    )
    op.create_index(op.f('ix_ingest_delivery_attempts_message_id'), 'delivery_attempts', ['message_id'], unique=False, schema='ingest')
    op.create_table('media_fetch_attempts',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('message_id', sa.UUID(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['ingest.messages.id'], name=op.f('fk_media_fetch_attempts_message_id_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_media_fetch_attempts')),
    schema='ingest'
    )
    op.create_index(op.f('ix_ingest_media_fetch_attempts_message_id'), 'media_fetch_attempts', ['message_id'], unique=False, schema='ingest')
    op.create_table('media_files',
    sa.Column('message_id', sa.UUID(), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('mime_type', sa.String(length=128), nullable=True),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['ingest.messages.id'], name=op.f('fk_media_files_message_id_messages')),
    sa.PrimaryKeyConstraint('message_id', name=op.f('pk_media_files')),
    schema='ingest'
    )
    op.add_column('messages', sa.Column('tenant_id', sa.UUID(), nullable=False), schema='ingest')
    op.add_column('messages', sa.Column('conversation_id', sa.UUID(), nullable=False), schema='ingest')
    op.add_column('messages', sa.Column('channel_id', sa.UUID(), nullable=False), schema='ingest')
    op.add_column('messages', sa.Column('author', sa.String(length=16), nullable=False), schema='ingest')
    op.add_column('messages', sa.Column('media', postgresql.JSONB(astext_type=sa.Text()), nullable=True), schema='ingest')
    op.add_column('messages', sa.Column('context', postgresql.JSONB(astext_type=sa.Text()), nullable=True), schema='ingest')
    op.add_column('messages', sa.Column('reaction', sa.String(length=32), nullable=True), schema='ingest')
    op.add_column('messages', sa.Column('status', sa.String(length=16), nullable=False), schema='ingest')
    op.add_column('messages', sa.Column('status_rank', sa.SmallInteger(), server_default=sa.text('0'), nullable=False), schema='ingest')
    op.add_column('messages', sa.Column('error', sa.Text(), nullable=True), schema='ingest')
    op.add_column('messages', sa.Column('error_code', sa.Integer(), nullable=True), schema='ingest')
    op.add_column('messages', sa.Column('sending_until', sa.DateTime(timezone=True), nullable=True), schema='ingest')
    op.add_column('messages', sa.Column('stored_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False), schema='ingest')
    op.alter_column('messages', 'wamid',
               existing_type=sa.VARCHAR(length=255),
               nullable=True,
               schema='ingest')
    op.alter_column('messages', 'raw',
               existing_type=postgresql.JSONB(astext_type=sa.Text()),
               nullable=True,
               schema='ingest')
    op.drop_constraint(op.f('uq_messages_wamid'), 'messages', schema='ingest', type_='unique')
    op.create_index('ix_messages_conversation_created', 'messages', ['conversation_id', 'created_at', 'id'], unique=False, schema='ingest')
    op.create_unique_constraint(op.f('uq_messages_tenant_id_wamid'), 'messages', ['tenant_id', 'wamid'], schema='ingest')
    op.create_foreign_key(op.f('fk_messages_channel_id_channels'), 'messages', 'channels', ['channel_id'], ['id'], source_schema='ingest', referent_schema='ingest')
    op.create_foreign_key(op.f('fk_messages_conversation_id_conversations'), 'messages', 'conversations', ['conversation_id'], ['id'], source_schema='ingest', referent_schema='ingest')
    op.drop_column('messages', 'sent_at', schema='ingest')
    op.drop_column('messages', 'phone_number_id', schema='ingest')
    op.drop_column('messages', 'wa_id', schema='ingest')


def downgrade() -> None:
    op.execute("delete from ingest.messages")
    op.add_column('messages', sa.Column('wa_id', sa.VARCHAR(length=64), autoincrement=False, nullable=True), schema='ingest')
    op.add_column('messages', sa.Column('phone_number_id', sa.VARCHAR(length=64), autoincrement=False, nullable=False), schema='ingest')
    op.add_column('messages', sa.Column('sent_at', postgresql.TIMESTAMP(timezone=True), autoincrement=False, nullable=False), schema='ingest')
    op.drop_constraint(op.f('fk_messages_conversation_id_conversations'), 'messages', schema='ingest', type_='foreignkey')
    op.drop_constraint(op.f('fk_messages_channel_id_channels'), 'messages', schema='ingest', type_='foreignkey')
    op.drop_constraint(op.f('uq_messages_tenant_id_wamid'), 'messages', schema='ingest', type_='unique')
    op.drop_index('ix_messages_conversation_created', table_name='messages', schema='ingest')
    op.create_unique_constraint(op.f('uq_messages_wamid'), 'messages', ['wamid'], schema='ingest', postgresql_nulls_not_distinct=False)
    op.alter_column('messages', 'raw',
               existing_type=postgresql.JSONB(astext_type=sa.Text()),
               nullable=False,
               schema='ingest')
    op.alter_column('messages', 'wamid',
               existing_type=sa.VARCHAR(length=255),
               nullable=False,
               schema='ingest')
    op.drop_column('messages', 'stored_at', schema='ingest')
    op.drop_column('messages', 'sending_until', schema='ingest')
    op.drop_column('messages', 'error_code', schema='ingest')
    op.drop_column('messages', 'error', schema='ingest')
    op.drop_column('messages', 'status_rank', schema='ingest')
    op.drop_column('messages', 'status', schema='ingest')
    op.drop_column('messages', 'reaction', schema='ingest')
    op.drop_column('messages', 'context', schema='ingest')
    op.drop_column('messages', 'media', schema='ingest')
    op.drop_column('messages', 'author', schema='ingest')
    op.drop_column('messages', 'channel_id', schema='ingest')
    op.drop_column('messages', 'conversation_id', schema='ingest')
    op.drop_column('messages', 'tenant_id', schema='ingest')
    op.drop_table('media_files', schema='ingest')
    op.drop_index(op.f('ix_ingest_media_fetch_attempts_message_id'), table_name='media_fetch_attempts', schema='ingest')
    op.drop_table('media_fetch_attempts', schema='ingest')
    op.drop_index(op.f('ix_ingest_delivery_attempts_message_id'), table_name='delivery_attempts', schema='ingest')
    op.drop_table('delivery_attempts', schema='ingest')
    op.drop_index('uq_conversations_active', table_name='conversations', schema='ingest', postgresql_where=sa.text("status <> 'resolved'"))
    op.drop_index(op.f('ix_ingest_conversations_contact_id'), table_name='conversations', schema='ingest')
    op.drop_index('ix_conversations_tenant_activity', table_name='conversations', schema='ingest')
    op.drop_table('conversations', schema='ingest')
    op.drop_table('pending_statuses', schema='ingest')
    op.drop_table('contacts', schema='ingest')
    op.drop_index('uq_channels_phone_number_id_connected', table_name='channels', schema='ingest', postgresql_where=sa.text('deleted_at IS NULL'))
    op.drop_index(op.f('ix_ingest_channels_tenant_id'), table_name='channels', schema='ingest')
    op.drop_table('channels', schema='ingest')
