"""The revocation set: fed by events and by auth's durable list; refuses until first synced."""

import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from common.auth import CurrentPrincipal, JWKSVerifier
from common.errors import install_error_handlers
from common.events import UserRemovedPayload, UserRemovedV1
from common.revocation import Revocations
from wa_testing.plugin import TestKeyPair, bearer


def removed(user_id: uuid.UUID) -> UserRemovedV1:
    tenant = uuid.uuid4()
    return UserRemovedV1(
        tenant_id=tenant, payload=UserRemovedPayload(user_id=user_id, tenant_id=tenant)
    )


async def test_a_redelivered_removal_revokes_once() -> None:
    revocations = Revocations()
    ended: list[uuid.UUID] = []
    revocations.on_revoke(ended.append)
    user = uuid.uuid4()
    event = removed(user)
    await revocations.handle(event)
    await revocations.handle(event)
    assert revocations.is_revoked(user) and not revocations.is_revoked(uuid.uuid4())
    assert ended == [user]


async def test_tokens_wait_for_the_first_sync_then_removed_users_get_401(
    test_keys: TestKeyPair,
) -> None:
    removed_user = uuid.uuid4()
    auth_up = False

    async def source() -> list[uuid.UUID]:
        if not auth_up:
            raise ConnectionError("auth is down")
        return [removed_user]

    revocations = Revocations(source=source)
    app = FastAPI()
    install_error_handlers(app)
    app.state.verifier = JWKSVerifier(
        jwks=test_keys.jwks(), issuer="whatsapp-ai-auth", audience="whatsapp-ai"
    )
    app.state.revocations = revocations

    @app.get("/me")
    async def me(principal: CurrentPrincipal) -> dict[str, Any]:
        return {"user": str(principal.user_id)}

    member = bearer(test_keys.token(user_id=uuid.uuid4()))
    gone = bearer(test_keys.token(user_id=removed_user))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert not await revocations.sync()
        # Not synced: it cannot tell a removed user from a member, so it refuses both.
        r = await client.get("/me", headers=member)
        assert (r.status_code, r.headers["retry-after"]) == (503, "1")
        assert revocations.health() == {"revocations": "down"}
        auth_up = True
        assert await revocations.sync()
        assert (await client.get("/me", headers=member)).status_code == 200
        r = await client.get("/me", headers=gone)
        assert (r.status_code, r.json()) == (401, {"detail": "this account was removed"})
