"""Rate limits: per email and per client address, shared through Postgres (429 + Retry-After)."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auth.main import create_app
from auth.settings import AuthSettings
from common.testing import asgi_client, remove_topology

PASSWORD = "correct horse battery"


@pytest.fixture
async def strict_app(auth_settings: AuthSettings) -> AsyncIterator[FastAPI]:
    settings = auth_settings.model_copy(
        update={
            "login_limit_per_email": 3,
            "login_limit_per_address": 5,
            "register_limit_per_address": 2,
            "register_limit_per_email": 2,
        }
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app
    await remove_topology(settings.amqp_url, settings.bus_prefix, set())


def address() -> str:
    """A client address of its own: buckets live in the run's shared database."""
    return f"client-{uuid.uuid4().hex}"


async def register(client: httpx.AsyncClient, email: str | None = None) -> httpx.Response:
    return await client.post(
        "/api/auth/register",
        json={
            "email": email or f"{uuid.uuid4().hex}@example.com",
            "password": PASSWORD,
            "name": "N",
            "business_name": "B",
        },
    )


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": password})


def assert_limited(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    assert r.json() == {"detail": "too many attempts; try again later"}
    assert 0 < int(r.headers["retry-after"]) <= 900


async def test_failed_logins_are_limited_per_email(strict_app: FastAPI) -> None:
    async with asgi_client(strict_app, address=address()) as setup:
        email = (await register(setup)).json()["user"]["email"]
    async with asgi_client(strict_app, address=address()) as client:
        for _ in range(3):
            assert (await login(client, email, "wrong password")).status_code == 401
        assert_limited(await login(client, email, "wrong password"))
        # Even the right password waits now: the limit guards the account.
        assert_limited(await login(client, email, PASSWORD))
    # The limit is on the account, whatever address the attempts come from.
    async with asgi_client(strict_app, address=address()) as elsewhere:
        assert_limited(await login(elsewhere, email, PASSWORD))


async def test_parallel_guesses_cannot_pass_the_limit_together(strict_app: FastAPI) -> None:
    """Issue 12, finding 7: the limit was checked, then the failure counted, so guesses sent
    at once all passed the check. Counted first, atomically, only 3 reach the password."""
    async with asgi_client(strict_app, address=address()) as setup:
        email = (await register(setup)).json()["user"]["email"]
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(asgi_client(strict_app, address=address()))
            for _ in range(8)
        ]
        answers = await asyncio.gather(
            *(login(c, email, f"guess {n}") for n, c in enumerate(clients))
        )
    codes = sorted(r.status_code for r in answers)
    assert codes == [401] * 3 + [429] * 5, codes


async def test_successful_logins_do_not_count(strict_app: FastAPI) -> None:
    async with asgi_client(strict_app, address=address()) as client:
        email = (await register(client)).json()["user"]["email"]
        for _ in range(6):
            assert (await login(client, email, PASSWORD)).status_code == 200


async def test_failed_logins_are_limited_per_address(strict_app: FastAPI) -> None:
    async with asgi_client(strict_app, address=address()) as client:
        for _ in range(5):  # different accounts, one address: credential stuffing
            r = await login(client, f"{uuid.uuid4().hex}@example.com", "wrong password")
            assert r.status_code == 401
        assert_limited(await login(client, f"{uuid.uuid4().hex}@example.com", "whatever1"))


async def test_registrations_are_limited_per_address(strict_app: FastAPI) -> None:
    async with asgi_client(strict_app, address=address()) as client:
        assert (await register(client)).status_code == 201
        assert (await register(client)).status_code == 201
        limited = await register(client)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) > 0


async def test_the_limit_holds_across_replicas(
    strict_app: FastAPI, auth_settings: AuthSettings
) -> None:
    """Two app instances (two replicas) share one count through the database."""
    async with asgi_client(strict_app, address=address()) as setup:
        email = (await register(setup)).json()["user"]["email"]
    other: Any = create_app(auth_settings.model_copy(update={"login_limit_per_email": 3}))
    async with (
        other.router.lifespan_context(other),
        asgi_client(strict_app, address=address()) as a,
        asgi_client(other, address=address()) as b,
    ):
        assert (await login(a, email, "wrong 1")).status_code == 401
        assert (await login(b, email, "wrong 2")).status_code == 401
        assert (await login(a, email, "wrong 3")).status_code == 401
        assert_limited(await login(b, email, "wrong 4"))
