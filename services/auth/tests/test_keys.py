"""Signing keys: generated once, supplied by environment, retired keys expire from the JWKS."""

import asyncio
from datetime import timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr
from sqlalchemy import func, select

from auth.keys import KeyRing, ensure_active_key, key_from_pem, rotate
from auth.main import create_app
from auth.models import SigningKey
from auth.settings import AuthSettings
from common.db import Database
from wa_testing.plugin import asgi_client


async def active_kids(db: Database) -> list[str]:
    async with db.sessionmaker() as s:
        return list((await s.scalars(select(SigningKey.kid).where(SigningKey.active))).all())


async def test_replicas_starting_together_agree_on_one_key(auth_database_url: str) -> None:
    db = Database(auth_database_url, pool_size=4)

    async def start() -> None:
        async with db.session() as session:
            await ensure_active_key(session, None)

    await asyncio.gather(*(start() for _ in range(4)))
    assert len(await active_kids(db)) == 1
    await db.dispose()


async def test_a_supplied_key_signs_and_the_old_one_stays_published(
    auth_settings: AuthSettings,
) -> None:
    pem = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    supplied_kid = key_from_pem(pem).kid
    app = create_app(auth_settings.model_copy(update={"auth_signing_key_pem": SecretStr(pem)}))
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        assert app.state.key_ring.kid == supplied_kid
        kids = [k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]]
        assert kids[0] == supplied_kid and len(kids) >= 2  # the generated key is still there
        assert await active_kids(app.state.db) == [supplied_kid]


async def test_a_retired_key_leaves_the_jwks_once_its_tokens_have_expired(
    auth_database_url: str,
) -> None:
    db = Database(auth_database_url, pool_size=2)
    ring = KeyRing(db, token_ttl=timedelta(seconds=1))
    async with db.session() as session:
        await ensure_active_key(session, None)
    await ring.load()
    old = ring.kid
    async with db.session() as session:
        new = await rotate(session)
    await ring.load()
    assert {k["kid"] for k in (await ring.jwks())["keys"]} >= {old, new}
    await asyncio.sleep(1.2)
    await ring.load()
    kids = {k["kid"] for k in (await ring.jwks())["keys"]}
    assert new in kids and old not in kids
    async with db.sessionmaker() as s:  # kept in the table, only no longer published
        assert await s.scalar(select(func.count()).where(SigningKey.kid == old)) == 1
    await db.dispose()
