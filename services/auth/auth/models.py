"""auth's tables: tenants, their users (one tenant per user), revoked users, signing keys,
rate limits."""

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import DateTime, ForeignKey, Index, String, Table, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.db import make_metadata
from common.idempotency import processed_events_table
from common.outbox import outbox_table
from common.ratelimit import rate_limit_buckets_table

SCHEMA = "auth"
metadata = make_metadata(SCHEMA)
outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
# Fixed-window counters of the login and registration limits.
rate_limit_buckets = rate_limit_buckets_table(metadata)


class Base(DeclarativeBase):
    metadata = metadata
    if TYPE_CHECKING:
        # Every model here maps a Table (SQLAlchemy types `__table__` as any FromClause):
        # lets `insert(Model.__table__)` and `Retention(Model.__table__, …)` type-check.
        __table__: ClassVar[Table]


class Tenant(Base):
    """A business: everything else on the platform belongs to one."""

    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class User(Base):
    """A person who works in one tenant's dashboard, with one role there."""

    __tablename__ = "users"
    # Index names as the migrations gave them (the naming convention would add the schema).
    __table_args__ = (Index("ix_users_tenant_id", "tenant_id"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("auth.tenants.id", ondelete="CASCADE")
    )
    # Normalised (trimmed, lower case) so the unique index sees one address once.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RevokedUser(Base):
    """A removed user whose tokens may still be unexpired: every service refuses them (it
    syncs this list at start, see common.revocation). Rows older than the token lifetime
    no longer matter."""

    __tablename__ = "revoked_users"
    __table_args__ = (Index("ix_revoked_users_revoked_at", "revoked_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    revoked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SigningKey(Base):
    """An Ed25519 key pair. One is active (it signs); retired ones stay published until the
    last token they signed has expired."""

    __tablename__ = "signing_keys"
    __table_args__ = (
        # At most one active key, even with several replicas starting together.
        Index("uq_signing_keys_active", "active", unique=True, postgresql_where=text("active")),
    )

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSONB)
    active: Mapped[bool] = mapped_column(server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
