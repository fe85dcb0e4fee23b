"""Token verification: JWKS over real HTTP, rotation, and every way a token can be wrong."""

import asyncio
import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from fastapi import APIRouter, FastAPI

from common.auth import (
    INTERNAL_TOKEN_HEADER,
    CurrentPrincipal,
    InternalCaller,
    JWKSVerifier,
    Principal,
    TokenError,
    require_role,
)
from common.errors import install_error_handlers
from common.settings import CommonSettings
from wa_testing.plugin import TestKeyPair

ISS, AUD = "whatsapp-ai-auth", "whatsapp-ai"


class JWKSServer:
    """A real HTTP server on 127.0.0.1 that serves a JWKS and counts the fetches."""

    def __init__(self) -> None:
        self.jwks: dict[str, Any] = {"keys": []}
        self.fetches = 0
        self.closed = False
        # Set: auth is down the slow way (every fetch hangs this long, then a 503).
        self.hang_s: float | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                if outer.hang_s is not None:
                    time.sleep(outer.hang_s)
                    self.send_error(503)
                    return
                body = json.dumps(outer.jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def jwks_server() -> Iterator[JWKSServer]:
    server = JWKSServer()
    yield server
    server.close()


def verifier_for(keys: TestKeyPair) -> JWKSVerifier:
    return JWKSVerifier(jwks=keys.jwks(), issuer=ISS, audience=AUD)


async def test_a_valid_token_gives_its_principal(test_keys: TestKeyPair) -> None:
    tenant, user = uuid.uuid4(), uuid.uuid4()
    token = test_keys.token(tenant_id=tenant, user_id=user, role="agent")
    principal = await verifier_for(test_keys).verify(token)
    assert principal == Principal(user_id=user, tenant_id=tenant, role="agent")


async def test_an_expired_token_is_refused(test_keys: TestKeyPair) -> None:
    token = test_keys.token(expires_in=timedelta(seconds=-5))
    with pytest.raises(TokenError, match="expired"):
        await verifier_for(test_keys).verify(token)


async def test_a_tampered_token_is_refused(test_keys: TestKeyPair) -> None:
    header, payload, signature = test_keys.token(role="agent").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "owner"  # promote ourselves
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenError, match="invalid token"):
        await verifier_for(test_keys).verify(f"{header}.{forged}.{signature}")


async def test_alg_none_is_refused(test_keys: TestKeyPair) -> None:
    claims = jwt.decode(test_keys.token(), options={"verify_signature": False})
    unsigned = jwt.encode(claims, key=None, algorithm="none", headers={"kid": test_keys.kid})
    with pytest.raises(TokenError, match="'none' is not accepted"):
        await verifier_for(test_keys).verify(unsigned)


async def test_a_symmetric_token_keyed_with_the_public_key_is_refused(
    test_keys: TestKeyPair,
) -> None:
    # The classic confusion attack: HS256 with the public key as the HMAC secret.
    claims = jwt.decode(test_keys.token(), options={"verify_signature": False})
    public_x = test_keys.jwks()["keys"][0]["x"]
    token = jwt.encode(claims, public_x, algorithm="HS256", headers={"kid": test_keys.kid})
    with pytest.raises(TokenError, match="'HS256' is not accepted"):
        await verifier_for(test_keys).verify(token)


@pytest.mark.parametrize(("claim", "value"), [("iss", "someone-else"), ("aud", "another-product")])
async def test_a_wrong_issuer_or_audience_is_refused(
    test_keys: TestKeyPair, claim: str, value: str
) -> None:
    token = test_keys.token(**{claim: value})
    with pytest.raises(TokenError):
        await verifier_for(test_keys).verify(token)


async def test_a_token_missing_the_tenant_is_refused(test_keys: TestKeyPair) -> None:
    claims = jwt.decode(test_keys.token(), options={"verify_signature": False})
    del claims["tid"]
    token = jwt.encode(
        claims, test_keys.private_key, algorithm="EdDSA", headers={"kid": test_keys.kid}
    )
    with pytest.raises(TokenError):
        await verifier_for(test_keys).verify(token)


async def test_a_key_from_another_issuer_is_refused(test_keys: TestKeyPair) -> None:
    stranger = TestKeyPair()
    stranger.kid = test_keys.kid  # same kid, different key
    with pytest.raises(TokenError, match="invalid token"):
        await verifier_for(test_keys).verify(stranger.token())


async def test_keys_are_fetched_once_and_cached(jwks_server: JWKSServer) -> None:
    keys = TestKeyPair()
    jwks_server.jwks = keys.jwks()
    verifier = JWKSVerifier(jwks_url=jwks_server.url, issuer=ISS, audience=AUD)
    for _ in range(20):
        await verifier.verify(keys.token())
    assert jwks_server.fetches == 1


async def test_rotation_old_tokens_verify_until_expiry_new_ones_at_once(
    jwks_server: JWKSServer,
) -> None:
    old, new = TestKeyPair(), TestKeyPair()
    jwks_server.jwks = old.jwks()
    verifier = JWKSVerifier(
        jwks_url=jwks_server.url, issuer=ISS, audience=AUD, min_refetch_interval_s=0
    )
    old_token = old.token()
    await verifier.verify(old_token)

    # auth rotates: publishes the new key beside the old one and signs with the new one.
    jwks_server.jwks = {"keys": old.jwks()["keys"] + new.jwks()["keys"]}
    await verifier.verify(new.token())  # unknown kid -> one refetch -> verifies at once
    await verifier.verify(old_token)
    assert jwks_server.fetches == 2

    # Once the old key is withdrawn (its tokens expired), it no longer verifies.
    jwks_server.jwks = new.jwks()
    await verifier.refresh()
    with pytest.raises(TokenError, match="unknown key"):
        await verifier.verify(old_token)


async def test_unknown_kids_do_not_hammer_the_jwks_endpoint(jwks_server: JWKSServer) -> None:
    keys = TestKeyPair()
    jwks_server.jwks = keys.jwks()
    verifier = JWKSVerifier(
        jwks_url=jwks_server.url, issuer=ISS, audience=AUD, min_refetch_interval_s=60
    )
    await verifier.verify(keys.token())
    stranger = TestKeyPair()
    for _ in range(10):
        with pytest.raises(TokenError, match="unknown key"):
            await verifier.verify(stranger.token())
    assert jwks_server.fetches == 2  # the first load, then one refetch for the whole flood


async def test_auth_down_known_keys_verify_at_once_and_jwks_is_not_hammered(
    jwks_server: JWKSServer,
) -> None:
    keys = TestKeyPair()
    jwks_server.jwks = keys.jwks()
    verifier = JWKSVerifier(
        jwks_url=jwks_server.url,
        issuer=ISS,
        audience=AUD,
        refresh_after_s=0.05,  # stale almost at once: every request would want a refetch
        min_refetch_interval_s=1.0,
        http_timeout_s=0.5,
    )
    token = keys.token()
    await verifier.verify(token)
    assert jwks_server.fetches == 1

    jwks_server.hang_s = 0.4  # auth down: each fetch hangs, then fails
    await asyncio.sleep(0.1)
    started = time.monotonic()
    for _ in range(50):
        assert (await verifier.verify(token)).role == "owner"
    # Served from the cache: no request waited for a fetch.
    assert time.monotonic() - started < 0.2
    results = await asyncio.gather(*(verifier.verify(token) for _ in range(50)))
    assert len(results) == 50
    await asyncio.sleep(0.6)  # the background fetch fails; the next waits out the interval
    for _ in range(50):
        await verifier.verify(token)
    assert jwks_server.fetches == 2  # one fetch in flight for 150 requests, none after it failed

    # Down outright (connection refused): still verifies, still from the cache.
    jwks_server.close()
    await asyncio.sleep(1.1)
    started = time.monotonic()
    for _ in range(20):
        await verifier.verify(token)
    assert time.monotonic() - started < 0.2
    assert verifier.fetch_attempts <= 3


# --- the FastAPI dependencies ------------------------------------------------------------------


def protected_app(keys: TestKeyPair) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.verifier = verifier_for(keys)
    app.state.settings = CommonSettings(internal_token="internal-secret")
    router = APIRouter()

    @router.get("/me")
    async def me(principal: CurrentPrincipal) -> dict[str, str]:
        return {"tenant": str(principal.tenant_id), "role": principal.role}

    @router.post("/team", dependencies=[require_role("owner", "admin")])
    async def manage() -> dict[str, bool]:
        return {"ok": True}

    @router.get("/internal/ping", dependencies=[InternalCaller])
    async def internal() -> dict[str, bool]:
        return {"ok": True}

    app.include_router(router)
    return app


@pytest.fixture
async def client(test_keys: TestKeyPair) -> Any:
    transport = httpx.ASGITransport(app=protected_app(test_keys))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


async def test_current_principal_needs_a_bearer_token(
    client: httpx.AsyncClient, test_keys: TestKeyPair
) -> None:
    missing = await client.get("/me")
    assert missing.status_code == 401
    assert missing.json() == {"detail": "missing bearer token"}
    assert missing.headers["www-authenticate"] == "Bearer"

    tenant = uuid.uuid4()
    ok = await client.get(
        "/me", headers={"Authorization": f"Bearer {test_keys.token(tenant_id=tenant)}"}
    )
    assert ok.status_code == 200
    assert ok.json() == {"tenant": str(tenant), "role": "owner"}

    expired = test_keys.token(expires_in=timedelta(seconds=-1))
    r = await client.get("/me", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401
    assert r.json() == {"detail": "token expired"}


async def test_require_role_answers_403_to_other_roles(
    client: httpx.AsyncClient, test_keys: TestKeyPair
) -> None:
    agent = {"Authorization": f"Bearer {test_keys.token(role='agent')}"}
    admin = {"Authorization": f"Bearer {test_keys.token(role='admin')}"}
    refused = await client.post("/team", headers=agent)
    assert refused.status_code == 403
    assert "owner or admin" in refused.json()["detail"]
    assert (await client.post("/team", headers=admin)).status_code == 200


async def test_internal_routes_take_only_the_service_token(
    client: httpx.AsyncClient, test_keys: TestKeyPair
) -> None:
    assert (await client.get("/internal/ping")).status_code == 401
    user = {"Authorization": f"Bearer {test_keys.token()}"}
    assert (await client.get("/internal/ping", headers=user)).status_code == 401
    wrong = await client.get("/internal/ping", headers={INTERNAL_TOKEN_HEADER: "guess"})
    assert wrong.status_code == 401
    right = await client.get("/internal/ping", headers={INTERNAL_TOKEN_HEADER: "internal-secret"})
    assert right.status_code == 200
