"""Signing keys: Ed25519, kept in auth's schema (or supplied by environment), published as JWKS.

Rotation: the new key signs at once; the retired key stays published until every token it
signed has expired, so other services keep verifying old tokens and learn the new `kid`
on first sight (their verifier refetches the JWKS on an unknown `kid`).
"""

import base64
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncSession

from auth import repository
from auth.models import SigningKey
from common.db import Database

ALGORITHM = "EdDSA"


@dataclass(frozen=True)
class KeyMaterial:
    kid: str
    private_pem: str
    public_jwk: dict[str, Any]


def key_material(private_key: Ed25519PrivateKey) -> KeyMaterial:
    public = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(private_key.public_key()))
    # RFC 7638 thumbprint: the kid names the key itself, so a supplied key keeps its kid.
    canonical = json.dumps(
        {"crv": public["crv"], "kty": public["kty"], "x": public["x"]},
        separators=(",", ":"),
        sort_keys=True,
    )
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).decode()
    kid = kid.rstrip("=")[:32]
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return KeyMaterial(kid, pem, {**public, "kid": kid, "alg": ALGORITHM, "use": "sig"})


def generate_key() -> KeyMaterial:
    return key_material(Ed25519PrivateKey.generate())


def key_from_pem(pem: str) -> KeyMaterial:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("AUTH_SIGNING_KEY_PEM must be an Ed25519 private key")
    return key_material(key)


async def ensure_active_key(session: AsyncSession, supplied_pem: str | None) -> None:
    """Make sure one key is active: the supplied one, else the stored one, else a new one."""
    if supplied_pem:
        material = key_from_pem(supplied_pem)
        if await repository.active_kid(session) == material.kid:
            return
        await repository.retire_active_key(session)
        await repository.activate_key(
            session, material.kid, material.private_pem, material.public_jwk
        )
        return
    material = generate_key()
    await repository.add_active_key_unless_one(
        session, material.kid, material.private_pem, material.public_jwk
    )


async def rotate(session: AsyncSession) -> str:
    """Retire the active key and activate a new one; returns the new kid."""
    await repository.retire_active_key(session)
    material = generate_key()
    session.add(
        SigningKey(
            kid=material.kid,
            private_pem=material.private_pem,
            public_jwk=material.public_jwk,
            active=True,
        )
    )
    await session.flush()
    return material.kid


class KeyRing:
    """The active signing key and the published JWKS, reloaded from the database now and then
    so that a rotation done by one replica reaches the others."""

    def __init__(self, db: Database, token_ttl: timedelta, reload_after_s: float = 30.0) -> None:
        self.db = db
        self.token_ttl = token_ttl
        self.reload_after_s = reload_after_s
        self._kid = ""
        self._private_key: Ed25519PrivateKey | None = None
        self._jwks: dict[str, Any] = {"keys": []}
        self._loaded_at = 0.0

    async def load(self) -> None:
        cutoff = datetime.now(UTC) - self.token_ttl
        async with self.db.sessionmaker() as session:
            keys = await repository.published_keys(session, cutoff)
        active = next((k for k in keys if k.active), None)
        if active is None:
            raise RuntimeError("no active signing key")
        private = serialization.load_pem_private_key(active.private_pem.encode(), password=None)
        assert isinstance(private, Ed25519PrivateKey)
        self._kid, self._private_key = active.kid, private
        self._jwks = {"keys": [k.public_jwk for k in keys]}
        self._loaded_at = time.monotonic()

    async def _fresh(self) -> None:
        if time.monotonic() - self._loaded_at > self.reload_after_s:
            await self.load()

    async def sign(self, claims: dict[str, Any]) -> str:
        await self._fresh()
        if self._private_key is None:  # load() was never awaited: nothing to sign with
            raise RuntimeError("signing keys not loaded")
        return jwt.encode(
            claims, self._private_key, algorithm=ALGORITHM, headers={"kid": self._kid}
        )

    async def jwks(self) -> dict[str, Any]:
        await self._fresh()
        return self._jwks

    async def reloaded_jwks(self) -> dict[str, Any]:
        """The JWKS read again from the database (a verifier meeting an unknown kid)."""
        await self.load()
        return self._jwks

    @property
    def kid(self) -> str:
        return self._kid
