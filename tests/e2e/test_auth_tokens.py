"""Tokens from a real auth process, verified by another service over HTTP, across a rotation."""

import uuid
from collections.abc import Iterator

import httpx
import jwt
import pytest

from auth.main import SERVICE_DIR as AUTH_DIR
from common.app import ServiceRuntime
from common.auth import TokenError
from common.settings import CommonSettings
from wa_testing.plugin import ServiceProcess, migrated_database

pytestmark = pytest.mark.e2e
INTERNAL = "e2e-internal-token"
ADMIN = "e2e-admin-token"


@pytest.fixture
def auth_url(database_url: str, amqp_url: str, bus_prefix: str) -> Iterator[str]:
    migrated_database(database_url, AUTH_DIR)
    env = {
        "ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "AMQP_URL": amqp_url,
        "BUS_PREFIX": bus_prefix,
        "INTERNAL_TOKEN": INTERNAL,
        "ADMIN_TOKEN": ADMIN,
    }
    auth = ServiceProcess("auth.main:create_app", env).start()
    try:
        yield auth.url
    finally:
        auth.stop()


async def test_another_service_verifies_auth_tokens_across_a_key_rotation(auth_url: str) -> None:
    # Another service, configured as in production: only the JWKS URL of auth.
    settings = CommonSettings(auth_jwks_url=f"{auth_url}/.well-known/jwks.json")
    verifier = ServiceRuntime(settings, uses_bus=False).verifier
    email = f"{uuid.uuid4().hex}@example.com"
    async with httpx.AsyncClient(base_url=auth_url, timeout=10) as client:
        registered = await client.post(
            "/api/auth/register",
            json={
                "email": email,
                "password": "correct horse battery",
                "name": "Owner",
                "business_name": "Bakery",
            },
        )
        assert registered.status_code == 201
        old_token = registered.json()["access_token"]
        principal = await verifier.verify(old_token)
        assert str(principal.tenant_id) == registered.json()["tenant"]["id"]

        refused = await client.post("/internal/keys/rotate", headers={"X-Internal-Token": INTERNAL})
        assert refused.status_code == 401  # the service token cannot rotate keys
        rotated = await client.post("/internal/keys/rotate", headers={"X-Admin-Token": ADMIN})
        assert rotated.status_code == 200
        login = await client.post(
            "/api/auth/login", json={"email": email, "password": "correct horse battery"}
        )
        new_token = login.json()["access_token"]
        assert jwt.get_unverified_header(new_token)["kid"] == rotated.json()["kid"]

    # The new kid is unknown to the verifier's cache: one refetch, and it verifies at once.
    assert (await verifier.verify(new_token)).user_id == principal.user_id
    # Old tokens keep verifying until they expire: the retired key is still published.
    assert (await verifier.verify(old_token)).user_id == principal.user_id
    with pytest.raises(TokenError):
        await verifier.verify(new_token.rsplit(".", 1)[0] + ".AAAA")
