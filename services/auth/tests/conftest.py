import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auth.main import SERVICE_DIR, create_app
from auth.settings import AuthSettings
from wa_testing.plugin import (
    TestKeyPair,
    asgi_client,
    migrated_database,
    remove_topology,
    service_settings,
)


@pytest.fixture(scope="session")
def auth_database_url(database_url: str) -> str:
    return migrated_database(database_url, SERVICE_DIR)


@pytest.fixture
def auth_settings(
    auth_database_url: str, amqp_url: str, bus_prefix: str, test_keys: TestKeyPair
) -> AuthSettings:
    return service_settings(
        AuthSettings,
        database_url=auth_database_url,
        amqp_url=amqp_url,
        bus_prefix=bus_prefix,
        keys=test_keys,
        internal_token="auth-test-internal",
        admin_token="auth-test-admin",
        # Cheap hashing keeps the suite fast; the bench measures the real parameters.
        argon2_memory_kib=1024,
    )


@pytest.fixture
async def auth_app(auth_settings: AuthSettings) -> AsyncIterator[FastAPI]:
    app = create_app(auth_settings)
    async with app.router.lifespan_context(app):
        yield app
    await remove_topology(auth_settings.amqp_url, auth_settings.bus_prefix, set())


@pytest.fixture
async def client(auth_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # A fresh address per test: rate-limit buckets live in the shared test database.
    async with asgi_client(auth_app, address=f"client-{uuid.uuid4().hex}") as c:
        yield c


Register = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def register(client: httpx.AsyncClient) -> Register:
    """Register a fresh business; returns the response body (token, user, tenant)."""

    async def make(**overrides: Any) -> dict[str, Any]:
        body = {
            "email": f"owner-{uuid.uuid4().hex[:10]}@example.com",
            "password": "correct horse battery",
            "name": "Lúcia Owner",
            "business_name": "Padaria Lúcia",
            **overrides,
        }
        r = await client.post("/api/auth/register", json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    return make
