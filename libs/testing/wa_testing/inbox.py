"""ingest under test, as a business and Meta see it: its HTTP API (channels, conversations,
messages), Meta's notifications delivered to it, its tables read directly. Shared by ingest's
own suite (services/ingest/tests) and the flows through the gateway (tests/e2e)."""

import json
import uuid
from typing import Any

import httpx
from sqlalchemy import text

from common.bus import Bus
from common.db import Database
from wa_testing.fakes import FakeGraphAPI
from wa_testing.gateway_events import gateway_events
from wa_testing.plugin import (
    TestKeyPair,
    bearer,
    eventually,
    messages_change,
    meta_json,
    meta_signature,
    notification,
)


class Inbox:
    """ingest running, with helpers that speak as Meta and as a business.

    How Meta's notifications reach ingest is the caller's choice: through the real gateway
    over HTTP, signed (`gateway=`, tests/e2e), or as the events the gateway would publish,
    straight onto the bus (`bus=`, ingest's own suite, which so runs without the gateway).
    """

    def __init__(
        self,
        ingest: httpx.AsyncClient,
        keys: TestKeyPair,
        graph: FakeGraphAPI,
        db: Database,
        *,
        gateway: httpx.AsyncClient | None = None,
        app_secret: str = "",
        bus: Bus | None = None,
    ) -> None:
        if (gateway is None) == (bus is None):
            raise ValueError("notifications go through the gateway or the bus: give one")
        self.ingest = ingest
        self.keys = keys
        self.graph = graph
        self.db = db
        self.gateway = gateway
        self.app_secret = app_secret
        self.bus = bus

    def tenant(self, role: str = "owner") -> dict[str, str]:
        return bearer(self.keys.token(tenant_id=uuid.uuid4(), role=role))

    async def channel(
        self, headers: dict[str, str], *, token: str | None = None, pnid: str | None = None
    ) -> dict[str, Any]:
        """A sandbox channel, or with `token` a live one whose number Meta (the fake) knows."""
        body: dict[str, Any] = {"display_phone_number": "15550783881"}
        if token:
            number = self.graph.add_number(
                pnid or str(uuid.uuid4().int)[:15],
                waba_id=str(uuid.uuid4().int)[:15],
                token=token,
                display_phone_number="15550783881",
            )
            body |= {
                "phone_number_id": number.phone_number_id,
                "waba_id": number.waba_id,
                "access_token": token,
            }
        r = await self.ingest.post("/api/channels/whatsapp", json=body, headers=headers)
        assert r.status_code == 201, r.text
        # Connecting read the number from Meta; tests judge the calls that came after.
        self.graph.requests.clear()
        return dict(r.json())

    async def webhook(self, payload: dict[str, Any]) -> httpx.Response:
        """A signed notification posted to the gateway, as Meta sends it."""
        if self.gateway is None:
            raise RuntimeError("no gateway here: publish(payload) puts its events on the bus")
        body = meta_json(payload)
        return await self.gateway.post(
            "/api/webhook/whatsapp",
            content=body,
            headers={
                "X-Hub-Signature-256": meta_signature(body, self.app_secret),
                "Content-Type": "application/json",
            },
        )

    async def publish(self, payload: dict[str, Any]) -> int:
        """The gateway's events for a notification, published as the gateway does (messages
        and statuses mandatory, the rest not), each confirmed; returns how many."""
        if self.bus is None:
            raise RuntimeError("no bus here: webhook(payload) posts to the gateway")
        required, other = gateway_events(payload)
        await self.bus.publish_many(required, mandatory=True)
        await self.bus.publish_many(other)
        return len(required) + len(other)

    async def inbound(
        self,
        pnid: str,
        messages: list[dict[str, Any]],
        contacts: list[dict[str, Any]] | None = None,
        statuses: list[dict[str, Any]] | None = None,
    ) -> None:
        change = messages_change(pnid, messages=messages, contacts=contacts, statuses=statuses)
        payload = notification(("WABA1", [change]))
        if self.gateway is not None:
            r = await self.webhook(payload)
            assert r.status_code == 200, r.text
        else:
            assert await self.publish(payload) == len(messages) + len(statuses or [])

    async def conversations(self, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
        r = await self.ingest.get("/api/conversations", params=params, headers=headers)
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    async def messages(self, headers: dict[str, str], conversation_id: str) -> list[dict[str, Any]]:
        r = await self.ingest.get(
            f"/api/conversations/{conversation_id}/messages",
            params={"limit": 200},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    async def wait_conversation(
        self, headers: dict[str, str], count: int = 1
    ) -> list[dict[str, Any]]:
        async def ready() -> list[dict[str, Any]] | None:
            items = await self.conversations(headers)
            return items if len(items) >= count else None

        result: list[dict[str, Any]] = await eventually(ready)
        return result

    async def wait_messages(
        self, headers: dict[str, str], conversation_id: str, count: int
    ) -> list[dict[str, Any]]:
        async def ready() -> list[dict[str, Any]] | None:
            items = await self.messages(headers, conversation_id)
            return items if len(items) >= count else None

        result: list[dict[str, Any]] = await eventually(ready)
        return result

    async def wait_status(
        self, headers: dict[str, str], conversation_id: str, message_id: str, status: str
    ) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            for m in await self.messages(headers, conversation_id):
                if m["id"] == message_id and m["status"] == status:
                    return m
            return None

        result: dict[str, Any] = await eventually(reached)
        return result

    async def sql(self, query: str, **params: Any) -> list[Any]:
        async with self.db.sessionmaker() as s:
            return list((await s.execute(text(query), params)).all())


async def first_event(response: httpx.Response, name: str) -> dict[str, Any]:
    """The data of the first `name` event on an SSE stream (ingest's live inbox)."""
    frame: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if frame.get("event") == name:
                data: dict[str, Any] = json.loads(frame["data"])
                return data
            frame = {}
        elif not line.startswith(":") and ":" in line:
            key, _, value = line.partition(":")
            frame[key] = value.strip()
    raise AssertionError("stream ended")
