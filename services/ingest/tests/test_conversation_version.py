"""A conversation's `version` (docs/api.md, Conversations): 1 when created, exactly one more
with each kind of change, on the row, in the API and in every `conversation.updated` event
(the outbox and the live stream), so a screen can apply live updates in order."""

import asyncio
import time
import uuid
from typing import Any

import httpx

from common.bus import Bus
from common.events import (
    CSATRequestedPayload,
    CSATRequestedV1,
    HandoffRequestedPayload,
    HandoffRequestedV1,
    UserCreatedV1,
    UserPayload,
    UserRemovedPayload,
    UserRemovedV1,
)
from ingest.main import create_app
from ingest.settings import IngestSettings
from wa_testing.fakes import serve_app
from wa_testing.inbox import first_event
from wa_testing.plugin import bearer, eventually, text_message

TOKEN = "EAAG-test-token"
CUSTOMER = "16505551234"


def now_ts() -> int:
    return int(time.time())


class Business:
    """A tenant with a live channel, its owner a member ingest learned from auth."""

    def __init__(self, platform: Any) -> None:
        self.platform = platform
        self.tenant_id = uuid.uuid4()
        self.agent_id = uuid.uuid4()
        self.owner_id = uuid.uuid4()
        self.owner = bearer(
            platform.keys.token(tenant_id=self.tenant_id, user_id=self.owner_id, role="owner")
        )
        self.channel: dict[str, Any] = {}

    async def start(self, bus: Bus) -> dict[str, Any]:
        for user_id, role in ((self.owner_id, "owner"), (self.agent_id, "agent")):
            await bus.publish(
                UserCreatedV1(
                    tenant_id=self.tenant_id,
                    payload=UserPayload(
                        user_id=user_id,
                        tenant_id=self.tenant_id,
                        email=f"{user_id}@example.com",
                        name=role.title(),
                        role=role,  # type: ignore[arg-type]
                    ),
                ),
                mandatory=True,
            )

        async def known() -> bool | None:
            rows = await self.platform.sql(
                "SELECT count(*) FROM ingest.team_members WHERE tenant_id = :t", t=self.tenant_id
            )
            return True if rows[0][0] == 2 else None

        await eventually(known)
        self.channel = await self.platform.channel(self.owner, token=TOKEN)
        await self.writes("hello")
        [conversation] = await self.platform.wait_conversation(self.owner)
        return dict(conversation)

    async def writes(self, text: str, **message: Any) -> None:
        body = message or {"text": {"body": text}, "type": "text"}
        await self.platform.inbound(
            self.channel["phone_number_id"],
            [
                {
                    **text_message(f"wamid.{uuid.uuid4().hex}", CUSTOMER, text),
                    "timestamp": str(now_ts()),
                    **body,
                }
            ],
            [{"profile": {"name": "Ada"}, "wa_id": CUSTOMER}],
        )

    async def get(self, conversation_id: str) -> dict[str, Any]:
        r = await self.platform.ingest.get(
            f"/api/conversations/{conversation_id}", headers=self.owner
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def stored_version(self, conversation_id: str) -> int:
        [(version,)] = await self.platform.sql(
            "SELECT version FROM ingest.conversations WHERE id = :c", c=uuid.UUID(conversation_id)
        )
        return int(version)

    async def until_version(self, conversation_id: str, version: int) -> dict[str, Any]:
        """The conversation once a change over the bus reached `version` (the database's:
        reading through the API would bring the owner online)."""

        async def reached() -> bool | None:
            return True if await self.stored_version(conversation_id) >= version else None

        await eventually(reached)
        return await self.get(conversation_id)

    async def updated_versions(self, conversation_id: str) -> list[int]:
        """The versions `conversation.updated.v1` announced for it, lowest first."""
        rows = await self.platform.sql(
            "SELECT body->'payload'->>'version' FROM ingest.outbox WHERE event_type = "
            "'conversation.updated.v1' AND body->'payload'->>'id' = :c",
            c=conversation_id,
        )
        return sorted(int(v) for (v,) in rows)


async def test_each_kind_of_change_bumps_the_version_by_one(platform: Any, bus: Bus) -> None:
    business = Business(platform)
    conversation = await business.start(bus)
    cid = conversation["id"]
    path = f"/api/conversations/{cid}"
    owner = business.owner
    # Created by the customer's first message (one transaction): version 1.
    assert conversation["version"] == 1
    assert await business.stored_version(cid) == 1

    async def patched(**body: Any) -> dict[str, Any]:
        r = await platform.ingest.patch(path, json=body, headers=owner)
        assert r.status_code == 200, r.text
        return dict(r.json())

    # Each change through the API: one more, in the answer and on the row.
    steps: list[tuple[str, Any]] = [
        ("assignee", lambda: patched(assignee_id=str(business.agent_id))),
        ("ai switched", lambda: patched(ai_enabled=not conversation["ai_enabled"])),
        ("ai switched back", lambda: patched(ai_enabled=conversation["ai_enabled"])),
        ("unassign", lambda: patched(assignee_id=None)),
        ("handoff", lambda: patched(status="handoff")),
        ("resolved", lambda: patched(status="resolved")),
        ("reopened", lambda: patched(status="open")),
    ]
    version = 1
    for what, step in steps:
        answer = await step()
        version += 1
        assert answer["version"] == version, what
        assert await business.stored_version(cid) == version, what
    # A PATCH that changes nothing is no new version.
    assert (await patched(status="open"))["version"] == version

    r = await platform.ingest.post(
        "/api/labels", json={"name": "vip", "color": "#00aa00"}, headers=owner
    )
    assert r.status_code == 201, r.text
    r = await platform.ingest.put(
        f"{path}/labels", json={"label_ids": [r.json()["id"]]}, headers=owner
    )
    assert r.status_code == 200 and r.json()["labels"][0]["name"] == "vip"
    version += 1
    assert r.json()["version"] == version

    # An agent's reply (last message, unread count).
    r = await platform.ingest.post(f"{path}/messages", json={"text": "On it"}, headers=owner)
    assert r.status_code == 202, r.text
    version += 1
    assert (await business.get(cid))["version"] == version

    # The customer's next message (over the bus).
    await business.writes("thanks")
    version += 1
    assert (await business.until_version(cid, version))["unread_count"] == 1

    # The AI asks for a person (over the bus), while in charge: status, reason and the
    # turn it handed off, one new version.
    await bus.publish(
        HandoffRequestedV1(
            tenant_id=business.tenant_id,
            payload=HandoffRequestedPayload(
                conversation_id=uuid.UUID(cid), message_id=uuid.uuid4(), reason="a person"
            ),
        ),
        mandatory=True,
    )
    version += 1
    handed = await business.until_version(cid, version)
    assert handed["status"] == "handoff" and handed["version"] == version

    # The member it is assigned to leaves: unassigned, one new version.
    assert (await patched(assignee_id=str(business.agent_id)))["version"] == version + 1
    version += 1
    await bus.publish(
        UserRemovedV1(
            tenant_id=business.tenant_id,
            payload=UserRemovedPayload(user_id=business.agent_id, tenant_id=business.tenant_id),
        ),
        mandatory=True,
    )
    version += 1
    left = await business.until_version(cid, version)
    assert left["assignee_id"] is None and left["version"] == version
    await asyncio.sleep(0.3)  # and no further bump arrives later
    assert await business.stored_version(cid) == version

    # Every conversation.updated event carries the version it made: no two the same.
    announced = await business.updated_versions(cid)
    assert len(set(announced)) == len(announced) and announced[-1] == version


async def test_the_customer_s_rating_bumps_the_version_by_one(platform: Any, bus: Bus) -> None:
    business = Business(platform)
    conversation = await business.start(bus)
    cid = conversation["id"]
    r = await platform.ingest.patch(
        f"/api/conversations/{cid}", json={"status": "resolved"}, headers=business.owner
    )
    assert r.status_code == 200 and r.json()["version"] == 2
    await bus.publish(
        CSATRequestedV1(
            tenant_id=business.tenant_id,
            payload=CSATRequestedPayload(
                request_id=uuid.uuid4(),
                conversation_id=uuid.UUID(cid),
                question="How would you rate our support?",
            ),
        ),
        mandatory=True,
    )
    asked = await business.until_version(cid, 3)  # the question is its last message
    [question] = [
        m for m in await platform.messages(business.owner, cid) if m["type"] == "interactive"
    ]
    await platform.wait_status(business.owner, cid, question["id"], "sent")
    assert asked["version"] == 3
    await business.writes(
        "Great",
        type="interactive",
        interactive={"type": "button_reply", "button_reply": {"id": "csat:3", "title": "Great"}},
        context={"from": "15550783881", "id": question["wamid"]},
    )
    # The tap is stored and rates the conversation in one transaction: one new version.
    rated = await business.until_version(cid, 4)
    assert rated["csat"]["score"] == 3 and rated["version"] == 4
    assert (await business.updated_versions(cid))[-1] == 4


async def test_the_live_stream_carries_the_version(
    platform: Any, bus: Bus, ingest_settings: IngestSettings
) -> None:
    business = Business(platform)
    conversation = await business.start(bus)
    token = business.owner["Authorization"].removeprefix("Bearer ")
    replica = create_app(ingest_settings)
    async with (
        serve_app(replica) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
        client.stream("GET", "/api/events/stream", params={"access_token": token}) as live,
    ):
        assert live.status_code == 200
        r = await platform.ingest.patch(
            f"/api/conversations/{conversation['id']}",
            json={"status": "handoff"},
            headers=business.owner,
        )
        assert r.status_code == 200
        streamed = await asyncio.wait_for(first_event(live, "conversation.updated"), timeout=10)
    assert streamed["id"] == conversation["id"] and streamed["status"] == "handoff"
    assert streamed["version"] == r.json()["version"] == 2
