"""Token verification for every service but auth: JWKS-backed, cached, rotation-aware."""

import asyncio
import hmac
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import httpx
import jwt
import structlog
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from common.errors import AppError
from common.openapi import raises

log = structlog.get_logger(__name__)

Role = Literal["owner", "admin", "agent"]
ROLES: tuple[Role, ...] = ("owner", "admin", "agent")
# Asymmetric only: a token signed with anything else (HS256, none) is refused.
ALLOWED_ALGORITHMS = ("EdDSA", "ES256")
REQUIRED_CLAIMS = ["sub", "tid", "role", "iat", "exp", "iss", "aud"]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user, their tenant and their role in it."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: Role


class TokenError(Exception):
    """The token cannot be trusted; the message says why (safe to show the caller)."""


class JWKSVerifier:
    """Verifies access tokens with the public keys of a JWKS (fetched from auth or given).

    Keys are cached by `kid`. A known key is always served from the cache: when the cache is
    stale it is refreshed in the background (one fetch in flight, at most one attempt per
    `min_refetch_interval_s` after a failure), so an auth outage never holds a request up.
    An unknown `kid` waits for one refetch (rate limited), so a key rotated in by auth
    verifies at once; keys still published keep verifying old tokens.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        jwks: dict[str, Any] | None = None,
        source: Callable[[], Awaitable[dict[str, Any]]] | None = None,
        refresh_after_s: float = 600.0,
        min_refetch_interval_s: float = 1.0,
        http_timeout_s: float = 3.0,
    ) -> None:
        if jwks_url is None and jwks is None and source is None:
            raise ValueError("give jwks_url, jwks or source")
        self.issuer = issuer
        self.audience = audience
        self.jwks_url = jwks_url
        # Where the keys come from when not over HTTP (auth reads its own from its database).
        self.source = source
        self.refresh_after_s = refresh_after_s
        self.min_refetch_interval_s = min_refetch_interval_s
        self.http_timeout_s = http_timeout_s
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")  # never fetched: stale (not "fetched at boot")
        self._unknown_kid_refetch_at = float("-inf")
        self._failed_at = float("-inf")  # the last fetch that failed
        self._inflight: asyncio.Task[None] | None = None
        self.fetch_attempts = 0  # for tests and metrics: fetches started
        if jwks is not None:
            self.load_jwks(jwks)
            fixed = jwks_url is None and source is None
            self._fetched_at = float("inf") if fixed else time.monotonic()

    def load_jwks(self, jwks: dict[str, Any]) -> None:
        """Replace the known keys (auth, which holds them, sets its own after a rotation)."""
        keys: dict[str, jwt.PyJWK] = {}
        for data in jwks.get("keys", []):
            kid = data.get("kid")
            if not kid:
                continue
            try:
                keys[kid] = jwt.PyJWK(data)
            except jwt.PyJWTError as exc:
                log.warning("jwks.key_skipped", kid=kid, error=str(exc))
        self._keys = keys

    async def refresh(self) -> None:
        """Fetch the keys now (raises when the source fails)."""
        if self.source is not None:
            self.load_jwks(await self.source())
        elif self.jwks_url is not None:
            async with httpx.AsyncClient(timeout=self.http_timeout_s) as client:
                response = await client.get(self.jwks_url)
                response.raise_for_status()
                self.load_jwks(response.json())
        else:
            return
        self._fetched_at = time.monotonic()

    async def _fetch(self) -> None:
        self.fetch_attempts += 1
        try:
            await self.refresh()
        except Exception as exc:  # any failure: keep the cached keys, try again later
            self._failed_at = time.monotonic()
            log.warning("jwks.fetch_failed", url=self.jwks_url, error=repr(exc))

    def _start_fetch(self) -> asyncio.Task[None] | None:
        """The fetch in flight, or a new one; None while backing off after a failure."""
        if self._inflight is not None and not self._inflight.done():
            return self._inflight
        if time.monotonic() - self._failed_at < self.min_refetch_interval_s:
            return None
        self._inflight = asyncio.create_task(self._fetch(), name="jwks-fetch")
        return self._inflight

    async def _key(self, kid: str) -> jwt.PyJWK:
        stale = time.monotonic() - self._fetched_at > self.refresh_after_s
        key = self._keys.get(kid)
        if key is not None:
            if stale:
                self._start_fetch()  # in the background: the cached key answers now
            return key
        # Unknown kids refetch at most once per interval (a flood of forged kids must not
        # become a flood of fetches); a kid rotated in since the last fetch verifies at once.
        since = time.monotonic() - self._unknown_kid_refetch_at
        if not self._keys or stale or since >= self.min_refetch_interval_s:
            if self._keys and not stale:  # the first load is not a refetch
                self._unknown_kid_refetch_at = time.monotonic()
            fetch = self._start_fetch()
            if fetch is not None:
                # Shielded: a cancelled request must not cancel the fetch others wait for.
                await asyncio.shield(fetch)
        if kid not in self._keys:
            raise TokenError("token signed by an unknown key")
        return self._keys[kid]

    async def verify(self, token: str) -> Principal:
        """Check signature, algorithm, issuer, audience and expiry; return the principal."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError("malformed token") from exc
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise TokenError(f"algorithm {alg!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenError("token has no key id")
        key = await self._key(kid)
        if key.algorithm_name != alg:
            raise TokenError("algorithm does not match the key")
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("token expired") from exc
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {exc}") from exc
        role = claims.get("role")
        if role not in ROLES:
            raise TokenError("token has an unknown role")
        try:
            return Principal(
                user_id=uuid.UUID(str(claims["sub"])),
                tenant_id=uuid.UUID(str(claims["tid"])),
                role=role,
            )
        except ValueError as exc:
            raise TokenError("token subject or tenant is not a valid id") from exc


_bearer = HTTPBearer(auto_error=False, description="An access token from POST /api/auth/login")


# 503: until the first sync of removed users a token cannot be trusted.
@raises(401, 503)
async def _current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AppError(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    verifier: JWKSVerifier = request.app.state.verifier
    try:
        principal = await verifier.verify(credentials.credentials)
    except TokenError as exc:
        raise AppError(
            401, str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        ) from exc
    # A removed user's token is still signed and unexpired: the revocation set refuses it.
    revocations = getattr(request.app.state, "revocations", None)
    if revocations is not None:
        if not revocations.synced:
            raise AppError(
                503, "the list of removed users is not loaded yet", headers={"Retry-After": "1"}
            )
        if revocations.is_revoked(principal.user_id):
            raise AppError(
                401,
                "this account was removed",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(_current_principal)]


@raises(401, 503)
async def _stream_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    access_token: Annotated[
        str | None, Query(description="the token, for clients that cannot set headers")
    ] = None,
) -> Principal:
    # EventSource cannot set headers: the header wins, the query parameter is the fallback.
    if credentials is None and access_token:
        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=access_token)
    return await _current_principal(request, credentials)


# For event streams only (`GET /api/events/stream`): a bearer header or `?access_token=`.
StreamPrincipal = Annotated[Principal, Depends(_stream_principal)]


def require_role(*roles: Role) -> Any:
    """A dependency that admits only the given roles (403 otherwise); yields the principal."""

    @raises(403)
    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise AppError(403, f"this action needs the role {' or '.join(roles)}")
        return principal

    return Depends(check)


INTERNAL_TOKEN_HEADER = "X-Internal-Token"
ADMIN_TOKEN_HEADER = "X-Admin-Token"


def secret_matches(given: str, expected: str) -> bool:
    """Constant time: the comparison must not leak how much of the secret was right."""
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


@raises(401)
async def _require_internal_token(request: Request) -> None:
    expected = request.app.state.settings.internal_token.get_secret_value()
    if not secret_matches(request.headers.get(INTERNAL_TOKEN_HEADER, ""), expected):
        raise AppError(401, "internal endpoint: a valid service token is required")


InternalCaller = Depends(_require_internal_token)
