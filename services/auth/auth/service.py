"""auth's business functions. They flush; the request's unit of work commits."""

import uuid
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auth import repository
from auth.keys import KeyRing
from auth.models import Tenant, User, outbox
from auth.passwords import Passwords
from auth.schemas import (
    MemberIn,
    MemberOut,
    MeOut,
    RegisterIn,
    RevokedUserOut,
    RevokedUsersOut,
    SessionOut,
    TenantOut,
    UserOut,
)
from common.auth import Principal
from common.errors import AppError
from common.events import (
    TenantCreatedPayload,
    TenantCreatedV1,
    UserCreatedV1,
    UserPayload,
    UserRemovedPayload,
    UserRemovedV1,
)
from common.outbox import add_event
from common.pagination import Page, PageQuery, trim_page

log = structlog.get_logger(__name__)

INVALID_LOGIN = "invalid email or password"


class Tokens:
    """Issues access tokens: EdDSA, signed by the active key, `kid` in the header."""

    def __init__(self, keys: KeyRing, *, issuer: str, audience: str, ttl: timedelta) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl

    async def session_for(self, user: User, tenant: Tenant) -> SessionOut:
        now = datetime.now(UTC).replace(microsecond=0)
        expires = now + self.ttl
        token = await self.keys.sign(
            {
                "sub": str(user.id),
                "tid": str(tenant.id),
                "role": user.role,
                "iat": now,
                "exp": expires,
                "iss": self.issuer,
                "aud": self.audience,
            }
        )
        return SessionOut(
            access_token=token, expires_at=expires, user=_user_out(user), tenant=_tenant_out(tenant)
        )


def _user_out(user: User) -> UserOut:
    return UserOut(id=user.id, email=user.email, name=user.name, role=user.role)


def _tenant_out(tenant: Tenant) -> TenantOut:
    return TenantOut(id=tenant.id, name=tenant.name)


def _member_out(user: User) -> MemberOut:
    return MemberOut(
        id=user.id, email=user.email, name=user.name, role=user.role, created_at=user.created_at
    )


async def _add_user(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    email: str,
    name: str,
    role: str,
    password_hash: str,
) -> User:
    if await repository.user_by_email(session, email) is not None:
        raise AppError(409, "an account with this email already exists")
    user = User(tenant_id=tenant_id, email=email, name=name, role=role, password_hash=password_hash)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # the same email registered concurrently
        raise AppError(409, "an account with this email already exists") from exc
    await session.refresh(user)
    await add_event(
        session,
        outbox,
        UserCreatedV1(
            tenant_id=tenant_id,
            payload=UserPayload(
                user_id=user.id, tenant_id=tenant_id, email=email, name=name, role=role
            ),
        ),
    )
    return user


async def register(
    session: AsyncSession, passwords: Passwords, tokens: Tokens, body: RegisterIn
) -> SessionOut:
    """A new business and its first user, its owner."""
    if await repository.user_by_email(session, body.email) is not None:
        raise AppError(409, "an account with this email already exists")
    password_hash = await passwords.hash(body.password)
    tenant = Tenant(name=body.business_name)
    session.add(tenant)
    await session.flush()
    await add_event(
        session,
        outbox,
        TenantCreatedV1(
            tenant_id=tenant.id,
            payload=TenantCreatedPayload(tenant_id=tenant.id, name=tenant.name),
        ),
    )
    user = await _add_user(
        session,
        tenant_id=tenant.id,
        email=body.email,
        name=body.name,
        role="owner",
        password_hash=password_hash,
    )
    log.info("auth.registered", tenant_id=str(tenant.id), user_id=str(user.id))
    return await tokens.session_for(user, tenant)


async def login(
    session: AsyncSession, passwords: Passwords, tokens: Tokens, email: str, password: str
) -> SessionOut:
    """The same 401 for an unknown email and a wrong password, after the same work."""
    user = await repository.user_by_email(session, email)
    valid = await passwords.verify(user.password_hash if user else None, password)
    if user is None or not valid or user.disabled_at is not None:
        raise AppError(401, INVALID_LOGIN)
    if passwords.needs_rehash(user.password_hash):  # parameters were raised since
        user.password_hash = await passwords.hash(password)
    tenant = await repository.tenant(session, user.tenant_id)
    assert tenant is not None  # users cascade with their tenant
    return await tokens.session_for(user, tenant)


async def _active_user(session: AsyncSession, principal: Principal) -> tuple[User, Tenant]:
    """The principal's user as stored now: removed or disabled users are refused here."""
    found = await repository.member_with_tenant(session, principal.tenant_id, principal.user_id)
    if found is None or found[0].disabled_at is not None:
        raise AppError(401, "this account no longer exists or was disabled")
    return found


async def me(session: AsyncSession, principal: Principal) -> MeOut:
    user, tenant = await _active_user(session, principal)
    return MeOut(user=_user_out(user), tenant=_tenant_out(tenant))


async def refresh(session: AsyncSession, tokens: Tokens, principal: Principal) -> SessionOut:
    """A new token for a valid one, with the role as it is now."""
    user, tenant = await _active_user(session, principal)
    return await tokens.session_for(user, tenant)


async def list_members(
    session: AsyncSession, principal: Principal, page: PageQuery
) -> Page[MemberOut]:
    rows = await repository.members_page(session, principal.tenant_id, page)
    users, cursor = trim_page(rows, page.limit, lambda u: (u.created_at.isoformat(), u.id))
    return Page(items=[_member_out(u) for u in users], next_cursor=cursor)


async def _active_manager(session: AsyncSession, principal: Principal) -> User:
    """Managing the team is checked against the stored user, not only the token: a removed
    admin's unexpired token must not mint a new admin (permanent access)."""
    user, _ = await _active_user(session, principal)
    if user.role not in ("owner", "admin"):
        raise AppError(403, "this action needs the role owner or admin")
    return user


async def add_member(
    session: AsyncSession, passwords: Passwords, principal: Principal, body: MemberIn
) -> MemberOut:
    await _active_manager(session, principal)
    user = await _add_user(
        session,
        tenant_id=principal.tenant_id,
        email=body.email,
        name=body.name,
        role=body.role,
        password_hash=await passwords.hash(body.password),
    )
    log.info("auth.member_added", user_id=str(user.id), role=user.role)
    return _member_out(user)


async def remove_member(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> None:
    await _active_manager(session, principal)
    owners = await repository.lock_owners(session, principal.tenant_id)
    user = await repository.member(session, principal.tenant_id, user_id)
    if user is None:
        raise AppError(404, "member not found")
    if user.role == "owner":
        if principal.role != "owner":
            raise AppError(403, "only an owner can remove an owner")
        if owners == [user.id]:
            raise AppError(409, "the last owner of a business cannot be removed")
    await session.delete(user)
    # Durable, for services that start (or reconnect) after the event went by.
    await repository.add_revoked_user(session, principal.tenant_id, user_id)
    await add_event(
        session,
        outbox,
        UserRemovedV1(
            tenant_id=principal.tenant_id,
            payload=UserRemovedPayload(user_id=user_id, tenant_id=principal.tenant_id),
        ),
    )
    log.info("auth.member_removed", user_id=str(user_id))


async def revoked_users(session: AsyncSession, token_ttl: timedelta) -> RevokedUsersOut:
    """The users removed within the token lifetime: older removals have no live token."""
    since = datetime.now(UTC) - token_ttl
    rows = await repository.revoked_since(session, since)
    return RevokedUsersOut(
        items=[RevokedUserOut(user_id=r.user_id, revoked_at=r.revoked_at) for r in rows]
    )
