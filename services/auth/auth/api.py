"""auth's routes: thin — parse, rate-limit or authorise, call the service, return."""

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from auth import service
from auth.keys import KeyRing, rotate
from auth.passwords import Passwords
from auth.schemas import (
    LoginIn,
    MemberIn,
    MemberOut,
    MeOut,
    RegisterIn,
    RevokedUsersOut,
    SessionOut,
)
from auth.settings import AuthSettings
from common.auth import (
    ADMIN_TOKEN_HEADER,
    CurrentPrincipal,
    InternalCaller,
    Principal,
    require_role,
    secret_matches,
)
from common.db import SessionDep
from common.errors import AppError
from common.openapi import errors, raises
from common.pagination import Page, PageParams
from common.ratelimit import FixedWindowLimiter, Limit, too_many

auth_router = APIRouter(prefix="/api/auth", tags=["auth"])
team_router = APIRouter(prefix="/api/team", tags=["team"])
keys_router = APIRouter(tags=["keys"])

Manager = Annotated[Principal, require_role("owner", "admin")]


def _state(request: Request) -> Any:
    return request.app.state


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@auth_router.post(
    "/register",
    status_code=201,
    response_model=SessionOut,
    responses=errors({409: "an account with this email exists"}, 429),
)
async def register(body: RegisterIn, request: Request, session: SessionDep) -> SessionOut:
    """Create a business and its first user (the owner); returns a token."""
    s: AuthSettings = _state(request).settings
    limiter: FixedWindowLimiter = _state(request).rate_limiter
    wait = await limiter.hit(
        [
            Limit(f"register:email:{body.email}", s.register_limit_per_email, s.register_window_s),
            Limit(
                f"register:addr:{_address(request)}",
                s.register_limit_per_address,
                s.register_window_s,
            ),
        ]
    )
    if wait is not None:
        raise too_many(wait)
    return await service.register(session, _state(request).passwords, _state(request).tokens, body)


@auth_router.post(
    "/login", response_model=SessionOut, responses=errors({401: "wrong email or password"}, 429)
)
async def login(body: LoginIn, request: Request, session: SessionDep) -> SessionOut:
    """A token for a valid email and password. Failures are rate limited per email and
    per client address (429 with Retry-After)."""
    s: AuthSettings = _state(request).settings
    limiter: FixedWindowLimiter = _state(request).rate_limiter
    limits = [
        Limit(f"login:email:{body.email}", s.login_limit_per_email, s.login_window_s),
        Limit(f"login:addr:{_address(request)}", s.login_limit_per_address, s.login_window_s),
    ]
    # Counted before the password is checked: parallel guesses cannot all pass one check.
    counted = await limiter.count(limits)
    if counted.retry_after is not None:
        raise too_many(counted.retry_after)
    passwords: Passwords = _state(request).passwords
    signed_in = await service.login(
        session, passwords, _state(request).tokens, body.email, body.password
    )
    await limiter.refund(session, counted)  # only failures count
    return signed_in


@auth_router.get("/me", response_model=MeOut)
async def me(principal: CurrentPrincipal, session: SessionDep) -> MeOut:
    """The signed-in user and their business."""
    return await service.me(session, principal)


@auth_router.post("/refresh", response_model=SessionOut)
async def refresh(principal: CurrentPrincipal, request: Request, session: SessionDep) -> SessionOut:
    """Renew a valid, unexpired token (a removed or disabled user gets 401)."""
    return await service.refresh(session, _state(request).tokens, principal)


@team_router.get("/members", response_model=Page[MemberOut])
async def list_members(
    principal: CurrentPrincipal, session: SessionDep, page: PageParams
) -> Page[MemberOut]:
    """The business's members, oldest first."""
    return await service.list_members(session, principal, page)


@team_router.post(
    "/members",
    status_code=201,
    response_model=MemberOut,
    responses=errors({409: "an account with this email exists"}),
)
async def add_member(
    body: MemberIn, principal: Manager, request: Request, session: SessionDep
) -> MemberOut:
    """Add an agent or admin with a password (owner/admin only)."""
    return await service.add_member(session, _state(request).passwords, principal, body)


@team_router.delete(
    "/members/{user_id}",
    status_code=204,
    responses=errors(404, {409: "the last owner of a business cannot be removed"}),
)
async def remove_member(user_id: uuid.UUID, principal: Manager, session: SessionDep) -> Response:
    """Remove a member (owner/admin only; the last owner stays). Their token is refused at
    once here and, within a second, by every service (`user.removed.v1`); open live streams
    of theirs end."""
    await service.remove_member(session, principal, user_id)
    return Response(status_code=204)


@keys_router.get("/.well-known/jwks.json")
async def jwks(request: Request, response: Response) -> dict[str, Any]:
    """The public keys that verify access tokens (active and recently retired)."""
    keys: KeyRing = _state(request).key_ring
    response.headers["Cache-Control"] = "public, max-age=300"
    return await keys.jwks()


@keys_router.get(
    "/internal/revocations", dependencies=[InternalCaller], response_model=RevokedUsersOut
)
async def revocations(request: Request, session: SessionDep) -> RevokedUsersOut:
    """The users removed within the token lifetime, whose tokens every service refuses
    (each syncs this at start and after a broker reconnect)."""
    ttl = timedelta(seconds=_state(request).settings.access_token_ttl_s)
    return await service.revoked_users(session, ttl)


@raises(401)
async def _require_admin_token(request: Request) -> None:
    expected = _state(request).settings.admin_token.get_secret_value()
    if not secret_matches(request.headers.get(ADMIN_TOKEN_HEADER, ""), expected):
        raise AppError(401, "key rotation needs the admin token (X-Admin-Token)")


@keys_router.post("/internal/keys/rotate", dependencies=[Depends(_require_admin_token)])
async def rotate_key(request: Request, session: SessionDep) -> dict[str, str]:
    """Start signing with a new key; the old one stays published until its tokens expire.
    Takes ADMIN_TOKEN (X-Admin-Token), not the service token."""
    kid = await rotate(session)
    await session.commit()  # before reloading, so this replica signs with it at once
    await _state(request).key_ring.load()
    await _state(request).verifier.refresh()
    return {"kid": kid}
