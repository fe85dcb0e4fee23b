"""Rate limits: per email and per client address, shared through Postgres (429 + Retry-After)."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from auth.main import create_app
from auth.settings import AuthSettings
from wa_testing.plugin import asgi_client, eventually, remove_topology

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


async def test_the_running_service_purges_stale_buckets_and_expired_revocations(
    auth_settings: AuthSettings,
) -> None:
    """Rate-limit windows and revocations past the token lifetime would pile up forever."""
    stale, fresh = f"purge-{uuid.uuid4().hex}", f"purge-{uuid.uuid4().hex}"
    gone_user, kept_user = uuid.uuid4(), uuid.uuid4()
    settings = auth_settings.model_copy(update={"purge_interval_s": 0.2})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        db = app.state.db
        async with db.session() as session:
            await session.execute(
                text(
                    "insert into auth.rate_limit_buckets (key, window_start, count) values "
                    "(:stale, now() - interval '2 days', 9), (:fresh, now(), 1)"
                ),
                {"stale": stale, "fresh": fresh},
            )
            await session.execute(
                text(
                    "insert into auth.revoked_users (user_id, tenant_id, revoked_at) values "
                    "(:gone, :tenant, now() - make_interval(secs => :ttl) - interval '2 hours'),"
                    " (:kept, :tenant, now() - interval '1 day')"
                ),
                {
                    "gone": gone_user,
                    "kept": kept_user,
                    "tenant": uuid.uuid4(),
                    "ttl": settings.access_token_ttl_s,
                },
            )

        async def purged() -> bool:
            async with db.sessionmaker() as session:
                keys = set(
                    (
                        await session.execute(
                            text("select key from auth.rate_limit_buckets where key in (:a, :b)"),
                            {"a": stale, "b": fresh},
                        )
                    ).scalars()
                )
                users = set(
                    (
                        await session.execute(
                            text(
                                "select user_id from auth.revoked_users where user_id in (:a, :b)"
                            ),
                            {"a": gone_user, "b": kept_user},
                        )
                    ).scalars()
                )
            return keys == {fresh} and users == {kept_user}

        await eventually(purged, timeout=10, interval=0.2)
    await remove_topology(settings.amqp_url, settings.bus_prefix, set())
