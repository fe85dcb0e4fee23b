import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from auth import service
from auth.api import auth_router, keys_router, team_router
from auth.keys import KeyRing, ensure_active_key
from auth.models import RevokedUser, outbox, processed_events, rate_limit_buckets
from auth.passwords import Passwords
from auth.service import Tokens
from auth.settings import AuthSettings
from common.app import ServiceRuntime, create_service_app
from common.auth import JWKSVerifier
from common.ratelimit import FixedWindowLimiter
from common.retention import Retention, claims_kept, windows_kept
from common.revocation import Revocations

SERVICE_DIR = Path(__file__).resolve().parent.parent


class AuthRuntime(ServiceRuntime):
    """auth holds the signing keys: it verifies its own tokens with them, no HTTP fetch."""

    settings: AuthSettings

    def __init__(self, settings: AuthSettings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        # Its revocation set syncs from its own table, not over HTTP from itself.
        self.revocations = Revocations(
            source=self._revoked_user_ids, sync_interval_s=settings.revocation_sync_interval_s
        )

    async def start(self) -> None:
        await super().start()
        assert self.db is not None
        supplied = self.settings.auth_signing_key_pem
        async with self.db.session() as session:
            await ensure_active_key(session, supplied.get_secret_value() if supplied else None)
        ttl = timedelta(seconds=self.settings.access_token_ttl_s)
        self.key_ring = KeyRing(self.db, ttl)
        await self.key_ring.load()
        self.verifier = JWKSVerifier(
            jwks=await self.key_ring.jwks(),
            source=self.key_ring.reloaded_jwks,
            issuer=self.settings.jwt_issuer,
            audience=self.settings.jwt_audience,
            refresh_after_s=30,
        )
        self.tokens = Tokens(
            self.key_ring,
            issuer=self.settings.jwt_issuer,
            audience=self.settings.jwt_audience,
            ttl=ttl,
        )
        self.passwords = Passwords(self.settings)
        self.rate_limiter = FixedWindowLimiter(self.db, rate_limit_buckets)

    async def _revoked_user_ids(self) -> list[uuid.UUID]:
        assert self.db is not None
        ttl = timedelta(seconds=self.settings.access_token_ttl_s)
        async with self.db.session() as session:
            return [r.user_id for r in (await service.revoked_users(session, ttl)).items]

    def app_state(self) -> dict[str, object]:
        return {
            **super().app_state(),
            "key_ring": self.key_ring,
            "tokens": self.tokens,
            "passwords": self.passwords,
            "rate_limiter": self.rate_limiter,
        }


def retention(settings: AuthSettings) -> list[Retention]:
    return [
        claims_kept(processed_events, settings),
        # A login window is at most minutes long; a day-old one counts nothing.
        windows_kept(rate_limit_buckets),
        # Past the token lifetime a removed user holds no token that still verifies.
        Retention(
            RevokedUser.__table__,
            "revoked_at",
            timedelta(seconds=settings.access_token_ttl_s) + timedelta(hours=1),
        ),
    ]


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    """auth: identity and tenancy; signs the tokens every other service verifies."""
    settings = settings or AuthSettings()
    runtime = AuthRuntime(
        settings, service_dir=SERVICE_DIR, outbox=outbox, retention=retention(settings)
    )
    app = create_service_app(
        settings,
        runtime,
        title="WhatsApp AI auth",
        description="Businesses, users, roles and the tokens every service trusts.",
        routers=[auth_router, team_router, keys_router],
    )
    return app
