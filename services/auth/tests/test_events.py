"""auth's facts leave through the outbox: registration, a new member, a removal."""

import asyncio
import uuid
from typing import Any

import httpx

from common.bus import Bus, Subscription
from common.events import Envelope, TenantCreatedV1, UserCreatedV1, UserRemovedV1
from wa_testing.plugin import bearer, eventually

TYPES = ("tenant.created.v1", "user.created.v1", "user.removed.v1")


async def test_registration_and_team_changes_are_published(
    client: httpx.AsyncClient, register: Any, bus: Bus
) -> None:
    received: list[Envelope] = []

    async def listener(event: Envelope) -> None:
        received.append(event)

    await bus.subscribe(Subscription("auth-test.listener", TYPES, listener))
    owner = await register()
    tenant_id = uuid.UUID(owner["tenant"]["id"])
    member = await client.post(
        "/api/team/members",
        json={
            "email": f"{uuid.uuid4().hex}@example.com",
            "name": "Ana",
            "role": "agent",
            "password": "correct horse battery",
        },
        headers=bearer(owner["access_token"]),
    )
    agent_id = uuid.UUID(member.json()["id"])
    await client.delete(f"/api/team/members/{agent_id}", headers=bearer(owner["access_token"]))

    def mine() -> list[Envelope]:
        return [e for e in received if e.tenant_id == tenant_id]

    await eventually(lambda: asyncio.sleep(0, len(mine()) >= 4))
    await asyncio.sleep(0.3)
    events = mine()
    assert sorted(e.event_type for e in events) == sorted(
        ["tenant.created.v1", "user.created.v1", "user.created.v1", "user.removed.v1"]
    )
    [tenant] = [e for e in events if isinstance(e, TenantCreatedV1)]
    assert tenant.payload.name == "Padaria Lúcia"
    created = {e.payload.role: e for e in events if isinstance(e, UserCreatedV1)}
    assert str(created["owner"].payload.user_id) == owner["user"]["id"]
    assert created["agent"].payload.user_id == agent_id
    [removed] = [e for e in events if isinstance(e, UserRemovedV1)]
    assert removed.payload.user_id == agent_id


async def test_a_failed_registration_publishes_nothing(
    client: httpx.AsyncClient, register: Any, bus: Bus
) -> None:
    received: list[Envelope] = []

    async def listener(event: Envelope) -> None:
        received.append(event)

    await bus.subscribe(Subscription("auth-test.nothing", TYPES, listener))
    owner = await register(business_name="First")
    duplicate = await client.post(
        "/api/auth/register",
        json={
            "email": owner["user"]["email"],
            "password": "correct horse battery",
            "name": "N",
            "business_name": "Never Created",
        },
    )
    assert duplicate.status_code == 409
    await eventually(lambda: asyncio.sleep(0, len(received) >= 2))
    await asyncio.sleep(0.5)
    names = [e.payload.name for e in received if isinstance(e, TenantCreatedV1)]
    assert "Never Created" not in names
