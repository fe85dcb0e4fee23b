"""Every query of auth. Tenant data is always read through a tenant-scoped statement; the
signing keys (at the end) belong to no tenant."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from auth.models import RevokedUser, SigningKey, Tenant, User
from common.pagination import PageQuery, keyset


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant | None:
    return await session.get(Tenant, tenant_id)


def _members(tenant_id: uuid.UUID) -> Select[User]:
    return select(User).where(User.tenant_id == tenant_id)


async def member(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> User | None:
    return await session.scalar(_members(tenant_id).where(User.id == user_id))


async def member_with_tenant(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[User, Tenant] | None:
    """One round trip for the hot path (me, refresh)."""
    row = (
        await session.execute(
            select(User, Tenant)
            .join(Tenant, Tenant.id == User.tenant_id)
            .where(User.tenant_id == tenant_id, User.id == user_id)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def members_page(session: AsyncSession, tenant_id: uuid.UUID, page: PageQuery) -> list[User]:
    """Oldest first (the owner heads the list); one more than the page (see
    common.pagination.keyset)."""
    query = _members(tenant_id).where(User.disabled_at.is_(None))
    return list((await session.scalars(keyset(query, page, User.created_at, User.id))).all())


async def lock_owners(session: AsyncSession, tenant_id: uuid.UUID) -> list[uuid.UUID]:
    """The tenant's active owners, row-locked: two removals cannot both see "one left"."""
    query = (
        select(User.id)
        .where(User.tenant_id == tenant_id, User.role == "owner", User.disabled_at.is_(None))
        .with_for_update()
    )
    return list((await session.scalars(query)).all())


async def add_revoked_user(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await session.execute(
        insert(RevokedUser)
        .values(user_id=user_id, tenant_id=tenant_id)
        .on_conflict_do_nothing(index_elements=[RevokedUser.user_id])
    )


async def revoked_since(session: AsyncSession, since: datetime) -> list[RevokedUser]:
    """Every tenant's removed users since `since` (the oldest unexpired token's issue time)."""
    query = select(RevokedUser).where(RevokedUser.revoked_at > since)
    return list((await session.scalars(query.order_by(RevokedUser.revoked_at))).all())


# --- signing keys (the platform's, no tenant) ---------------------------------------------


async def active_kid(session: AsyncSession) -> str | None:
    return await session.scalar(select(SigningKey.kid).where(SigningKey.active))


async def activate_key(
    session: AsyncSession, kid: str, private_pem: str, public_jwk: dict[str, Any]
) -> None:
    """Store the key as the active one, or make it active again if it is stored already."""
    await session.execute(
        insert(SigningKey)
        .values(kid=kid, private_pem=private_pem, public_jwk=public_jwk, active=True)
        .on_conflict_do_update(index_elements=["kid"], set_={"active": True, "retired_at": None})
    )


async def add_active_key_unless_one(
    session: AsyncSession, kid: str, private_pem: str, public_jwk: dict[str, Any]
) -> None:
    """Several replicas may start together: the partial unique index lets one key win."""
    await session.execute(
        insert(SigningKey)
        .values(kid=kid, private_pem=private_pem, public_jwk=public_jwk, active=True)
        .on_conflict_do_nothing()
    )


async def retire_active_key(session: AsyncSession) -> None:
    await session.execute(
        update(SigningKey)
        .where(SigningKey.active)
        .values(active=False, retired_at=datetime.now(UTC))
    )
    await session.flush()


async def published_keys(session: AsyncSession, retired_after: datetime) -> list[SigningKey]:
    """The active key and those retired after `retired_after`, newest first."""
    query = (
        select(SigningKey)
        .where(or_(SigningKey.active, SigningKey.retired_at > retired_after))
        .order_by(SigningKey.created_at.desc())
    )
    return list((await session.scalars(query)).all())
