"""The team inbox end to end (docs/api.md, ingest: team inbox, contacts' data): assignment and
round-robin on handoff, private notes (listed, live, never sent), labels, canned replies,
per-member read markers, a contact's export and erasure; another business's ids are 404s.
The team comes from auth's events over the real broker, as in production."""

import asyncio
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import text

from common.bus import Bus
from common.events import (
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


def now_ts() -> int:
    return int(time.time())


TOKEN = "EAAG-test-token"


class Team:
    """A business with an owner and two agents, each a member ingest learned from auth."""

    def __init__(self, platform: Any) -> None:
        self.platform = platform
        self.tenant_id = uuid.uuid4()
        self.ids = {name: uuid.uuid4() for name in ("owner", "ana", "bruno")}
        roles = {"owner": "owner", "ana": "agent", "bruno": "agent"}
        self.headers = {
            name: bearer(
                platform.keys.token(tenant_id=self.tenant_id, user_id=user_id, role=roles[name])
            )
            for name, user_id in self.ids.items()
        }
        self.roles = roles

    async def join(self, bus: Bus, *names: str) -> None:
        for name in names:
            await bus.publish(
                UserCreatedV1(
                    tenant_id=self.tenant_id,
                    payload=UserPayload(
                        user_id=self.ids[name],
                        tenant_id=self.tenant_id,
                        email=f"{name}@example.com",
                        name=name.title(),
                        role=self.roles[name],  # type: ignore[arg-type]
                    ),
                ),
                mandatory=True,
            )

        async def known() -> bool | None:
            rows = await self.platform.sql(
                "SELECT count(*) FROM ingest.team_members WHERE tenant_id = :t",
                t=self.tenant_id,
            )
            return True if rows[0][0] >= len(names) else None

        await eventually(known)

    def __getitem__(self, name: str) -> dict[str, str]:
        return self.headers[name]


async def conversations_of(
    platform: Any, team: Team, senders: list[str], *, token: str | None = TOKEN
) -> list[dict[str, Any]]:
    """One conversation per sender on a live channel, oldest first."""
    channel = await platform.channel(team["owner"], token=token)
    ts = now_ts() - len(senders)
    await platform.inbound(
        channel["phone_number_id"],
        [
            text_message(f"wamid.{uuid.uuid4().hex}", s, f"hello from {s}", timestamp=ts + i)
            for i, s in enumerate(senders)
        ],
        [{"profile": {"name": f"Customer {s}"}, "wa_id": s} for s in senders],
    )
    found = await platform.wait_conversation(team["owner"], len(senders))
    return sorted(found, key=lambda c: c["last_message_at"])


async def patch(platform: Any, headers: dict[str, str], conversation_id: str, **body: Any) -> Any:
    return await platform.ingest.patch(
        f"/api/conversations/{conversation_id}", json=body, headers=headers
    )


async def ids(platform: Any, headers: dict[str, str], **params: Any) -> set[str]:
    return {c["id"] for c in await platform.conversations(headers, **params)}


# --- assignment ----------------------------------------------------------------------------


async def test_assign_unassign_filter_and_the_takeover_assigns_the_agent(
    platform: Any, bus: Bus
) -> None:
    team = Team(platform)
    await team.join(bus, "owner", "ana", "bruno")
    first, second = await conversations_of(platform, team, ["111", "222"])
    assert first["assignee_id"] is None

    r = await patch(platform, team["owner"], first["id"], assignee_id=str(team.ids["bruno"]))
    assert r.status_code == 200, r.text
    assert r.json()["assignee_id"] == str(team.ids["bruno"])
    assert await ids(platform, team["bruno"], assignee="me") == {first["id"]}
    assert await ids(platform, team["ana"], assignee="none") == {second["id"]}
    assert await ids(platform, team["ana"], assignee=str(team.ids["bruno"])) == {first["id"]}
    assert len(await ids(platform, team["ana"])) == 2
    bad = await platform.ingest.get(
        "/api/conversations", params={"assignee": "someone"}, headers=team["ana"]
    )
    assert bad.status_code == 422

    # An agent taking over an unassigned conversation is assigned to it.
    r = await patch(platform, team["ana"], second["id"], ai_enabled=False)
    assert r.status_code == 200
    assert r.json()["assignee_id"] == str(team.ids["ana"]) and r.json()["ai_enabled"] is False
    # ... but not one a colleague holds.
    r = await patch(platform, team["ana"], first["id"], ai_enabled=False)
    assert r.json()["assignee_id"] == str(team.ids["bruno"])

    # Only members can be assignees; null unassigns.
    r = await patch(platform, team["owner"], first["id"], assignee_id=str(uuid.uuid4()))
    assert r.status_code == 422 and "member" in r.json()["detail"]
    r = await patch(platform, team["owner"], first["id"], assignee_id=None)
    assert r.status_code == 200 and r.json()["assignee_id"] is None

    # A member who leaves gives their conversations back to the queue.
    await bus.publish(
        UserRemovedV1(
            tenant_id=team.tenant_id,
            payload=UserRemovedPayload(user_id=team.ids["ana"], tenant_id=team.tenant_id),
        ),
        mandatory=True,
    )

    async def unassigned() -> bool | None:
        return (
            True
            if await ids(platform, team["owner"], assignee="none")
            == {
                first["id"],
                second["id"],
            }
            else None
        )

    await eventually(unassigned)

    # Another business cannot assign, or even see, these conversations.
    stranger = platform.tenant()
    r = await patch(platform, stranger, first["id"], assignee_id=None)
    assert r.status_code == 404
    assert await ids(platform, stranger, assignee="none") == set()


async def test_round_robin_hands_off_to_the_least_busy_member_online(
    platform: Any, bus: Bus
) -> None:
    team = Team(platform)
    await team.join(bus, "owner", "ana", "bruno")
    busy, first, second = await conversations_of(platform, team, ["111", "222", "333"])
    r = await platform.ingest.put(
        "/api/inbox/settings", json={"round_robin": True}, headers=team["ana"]
    )
    assert r.status_code == 403  # agents use the inbox; owners and admins configure it
    r = await platform.ingest.put(
        "/api/inbox/settings", json={"round_robin": True}, headers=team["owner"]
    )
    assert r.status_code == 200 and r.json() == {"round_robin": True}
    r = await platform.ingest.get("/api/inbox/settings", headers=team["ana"])
    assert r.json() == {"round_robin": True}
    # Ana already works on a conversation; the owner never opened the inbox (offline).
    assert (await patch(platform, team["ana"], busy["id"], ai_enabled=False)).status_code == 200
    await platform.conversations(team["bruno"])  # Bruno is online
    async with platform.db.session() as session:
        await session.execute(
            text("DELETE FROM ingest.team_presence WHERE user_id = :u"), {"u": team.ids["owner"]}
        )

    async def hand_off(conversation: dict[str, Any]) -> dict[str, Any]:
        await bus.publish(
            HandoffRequestedV1(
                tenant_id=team.tenant_id,
                payload=HandoffRequestedPayload(
                    conversation_id=uuid.UUID(conversation["id"]),
                    message_id=uuid.uuid4(),
                    reason="asked for a person",
                ),
            ),
            mandatory=True,
        )

        # Read from the database: reading through the API would bring the owner online.
        async def handed() -> dict[str, Any] | None:
            rows = await platform.sql(
                "SELECT status, assignee_id FROM ingest.conversations WHERE id = :c",
                c=uuid.UUID(conversation["id"]),
            )
            status, assignee = rows[0]
            if status == "handoff" and assignee:
                return {"assignee_id": str(assignee)}
            return None

        result: dict[str, Any] = await eventually(handed)
        return result

    assert (await hand_off(first))["assignee_id"] == str(team.ids["bruno"])
    # Now both hold one: the one assigned least recently takes the next.
    assert (await hand_off(second))["assignee_id"] == str(team.ids["ana"])


async def test_without_round_robin_a_handoff_stays_unassigned(platform: Any, bus: Bus) -> None:
    team = Team(platform)
    await team.join(bus, "owner", "ana")
    [conversation] = await conversations_of(platform, team, ["111"])
    await platform.conversations(team["ana"])
    await bus.publish(
        HandoffRequestedV1(
            tenant_id=team.tenant_id,
            payload=HandoffRequestedPayload(
                conversation_id=uuid.UUID(conversation["id"]),
                message_id=uuid.uuid4(),
                reason="asked for a person",
            ),
        ),
        mandatory=True,
    )

    async def handed() -> dict[str, Any] | None:
        [c] = await platform.conversations(team["owner"])
        return c if c["status"] == "handoff" else None

    assert (await eventually(handed))["assignee_id"] is None


# --- private notes -------------------------------------------------------------------------


async def test_a_note_is_listed_streamed_live_and_never_sent(
    platform: Any, bus: Bus, ingest_settings: IngestSettings
) -> None:
    team = Team(platform)
    [conversation] = await conversations_of(platform, team, ["16505551234"])
    path = f"/api/conversations/{conversation['id']}"
    token = team["ana"]["Authorization"].removeprefix("Bearer ")
    replica = create_app(ingest_settings)
    async with (
        serve_app(replica) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
        client.stream("GET", "/api/events/stream", params={"access_token": token}) as live,
    ):
        assert live.status_code == 200
        r = await platform.ingest.post(
            f"{path}/notes", json={"text": "VIP: offer free shipping"}, headers=team["ana"]
        )
        assert r.status_code == 201, r.text
        note = r.json()
        streamed = await asyncio.wait_for(first_event(live, "message.created"), timeout=10)
    assert (note["direction"], note["type"], note["author"]) == ("internal", "note", "agent")
    assert note["author_id"] == str(team.ids["ana"]) and note["wamid"] is None
    assert streamed["id"] == note["id"] and streamed["direction"] == "internal"
    assert streamed["text"] == "VIP: offer free shipping"

    thread = await platform.messages(team["owner"], conversation["id"])
    assert [(m["direction"], m["text"]) for m in thread] == [
        ("inbound", "hello from 16505551234"),
        ("internal", "VIP: offer free shipping"),
    ]
    # Never a WhatsApp message: no delivery job, no call to Meta, not announced as a message
    # (the responder's analytics and the AI's history come from that event).
    later = await platform.ingest.post(
        f"{path}/messages", json={"text": "We can ship for free"}, headers=team["ana"]
    )
    assert later.status_code == 202
    await platform.wait_status(team["ana"], conversation["id"], later.json()["id"], "sent")
    assert [s.json["text"]["body"] for s in platform.graph.sends()] == ["We can ship for free"]
    rows = await platform.sql(
        "SELECT event_type, body FROM ingest.outbox WHERE body->>'tenant_id' = :t",
        t=str(team.tenant_id),
    )
    kinds = [kind for kind, _ in rows]
    assert kinds.count("conversation.note.created.v1") == 1
    stored = [body for kind, body in rows if kind == "conversation.message.stored.v1"]
    assert all(b["payload"]["message"]["id"] != note["id"] for b in stored)
    reply = next(b for b in stored if b["payload"]["message"]["text"] == "We can ship for free")
    assert [h["text"] for h in reply["payload"]["history"]] == ["hello from 16505551234"]
    assert (
        await platform.sql("SELECT count(*) FROM ingest.delivery_attempts WHERE message_id = :m",
                           m=uuid.UUID(note["id"]))
    )[0][0] == 0  # fmt: skip

    stranger = platform.tenant()
    r = await platform.ingest.post(f"{path}/notes", json={"text": "x"}, headers=stranger)
    assert r.status_code == 404
    r = await platform.ingest.post(f"{path}/notes", json={"text": ""}, headers=team["ana"])
    assert r.status_code == 422


# --- labels --------------------------------------------------------------------------------


async def test_labels_managed_by_admins_used_by_agents_filtered_and_counted(
    platform: Any,
) -> None:
    team = Team(platform)
    first, second = await conversations_of(platform, team, ["111", "222"], token=None)
    r = await platform.ingest.post(
        "/api/labels", json={"name": "billing", "color": "#ff0000"}, headers=team["ana"]
    )
    assert r.status_code == 403
    r = await platform.ingest.post(
        "/api/labels", json={"name": "billing", "color": "#ff0000"}, headers=team["owner"]
    )
    assert r.status_code == 201, r.text
    billing = r.json()
    assert billing["conversation_count"] == 0
    again = await platform.ingest.post(
        "/api/labels", json={"name": "billing", "color": "#00ff00"}, headers=team["owner"]
    )
    assert again.status_code == 409
    bad = await platform.ingest.post(
        "/api/labels", json={"name": "vip", "color": "red"}, headers=team["owner"]
    )
    assert bad.status_code == 422
    vip = (
        await platform.ingest.post(
            "/api/labels", json={"name": "vip", "color": "#00aa00"}, headers=team["owner"]
        )
    ).json()

    r = await platform.ingest.put(
        f"/api/conversations/{first['id']}/labels",
        json={"label_ids": [vip["id"], billing["id"]]},
        headers=team["ana"],
    )
    assert r.status_code == 200, r.text
    assert r.json()["labels"] == [
        {"id": billing["id"], "name": "billing", "color": "#ff0000"},
        {"id": vip["id"], "name": "vip", "color": "#00aa00"},
    ]
    await platform.ingest.put(
        f"/api/conversations/{second['id']}/labels",
        json={"label_ids": [vip["id"]]},
        headers=team["ana"],
    )
    assert await ids(platform, team["ana"], label=billing["id"]) == {first["id"]}
    assert await ids(platform, team["ana"], label=vip["id"]) == {first["id"], second["id"]}
    listed = (await platform.ingest.get("/api/labels", headers=team["ana"])).json()["items"]
    assert [(x["name"], x["conversation_count"]) for x in listed] == [("billing", 1), ("vip", 2)]

    # Another business's label cannot be put on a conversation, nor deleted by them.
    stranger = platform.tenant("owner")
    theirs = (
        await platform.ingest.post(
            "/api/labels", json={"name": "billing", "color": "#000000"}, headers=stranger
        )
    ).json()  # the same name in another business is fine
    r = await platform.ingest.put(
        f"/api/conversations/{first['id']}/labels",
        json={"label_ids": [theirs["id"]]},
        headers=team["ana"],
    )
    assert r.status_code == 422
    r = await platform.ingest.put(
        f"/api/conversations/{first['id']}/labels", json={"label_ids": []}, headers=stranger
    )
    assert r.status_code == 404
    assert (
        await platform.ingest.delete(f"/api/labels/{vip['id']}", headers=stranger)
    ).status_code == 404
    assert await ids(platform, stranger, label=vip["id"]) == set()

    # Deleting a label takes it off every conversation.
    r = await platform.ingest.delete(f"/api/labels/{vip['id']}", headers=team["owner"])
    assert r.status_code == 204
    got = await platform.ingest.get(f"/api/conversations/{second['id']}", headers=team["ana"])
    assert got.json()["labels"] == []
    assert await ids(platform, team["ana"], label=vip["id"]) == set()


# --- canned replies ------------------------------------------------------------------------


async def test_canned_replies_crud(platform: Any) -> None:
    team = Team(platform)
    body = {"shortcut": "hours", "text": "Hi {{customer_name}}, we open at 9. — {{agent_name}}"}
    r = await platform.ingest.post("/api/canned-replies", json=body, headers=team["ana"])
    assert r.status_code == 403
    r = await platform.ingest.post("/api/canned-replies", json=body, headers=team["owner"])
    assert r.status_code == 201, r.text
    hours = r.json()
    assert hours["shortcut"] == "hours" and "{{customer_name}}" in hours["text"]
    assert (
        await platform.ingest.post("/api/canned-replies", json=body, headers=team["owner"])
    ).status_code == 409
    bad = await platform.ingest.post(
        "/api/canned-replies", json={"shortcut": "/Hours now", "text": "x"}, headers=team["owner"]
    )
    assert bad.status_code == 422
    thanks = (
        await platform.ingest.post(
            "/api/canned-replies", json={"shortcut": "thanks", "text": "Thank you!"},
            headers=team["owner"],
        )
    ).json()  # fmt: skip

    listed = (await platform.ingest.get("/api/canned-replies", headers=team["ana"])).json()
    assert [x["shortcut"] for x in listed["items"]] == ["hours", "thanks"]
    path = f"/api/canned-replies/{hours['id']}"
    r = await platform.ingest.put(
        path, json={"shortcut": "thanks", "text": "dup"}, headers=team["owner"]
    )
    assert r.status_code == 409
    r = await platform.ingest.put(
        path, json={"shortcut": "open", "text": "We open at 9."}, headers=team["owner"]
    )
    assert r.status_code == 200 and r.json()["shortcut"] == "open"

    stranger = platform.tenant("owner")
    assert (await platform.ingest.put(path, json=body, headers=stranger)).status_code == 404
    assert (await platform.ingest.delete(path, headers=stranger)).status_code == 404
    assert (await platform.ingest.get("/api/canned-replies", headers=stranger)).json()[
        "items"
    ] == []
    assert (await platform.ingest.delete(path, headers=team["owner"])).status_code == 204
    listed = (await platform.ingest.get("/api/canned-replies", headers=team["ana"])).json()
    assert [x["id"] for x in listed["items"]] == [thanks["id"]]


# --- reading -------------------------------------------------------------------------------


async def test_unread_counts_are_per_member(platform: Any) -> None:
    team = Team(platform)
    channel = await platform.channel(team["owner"])
    pnid = channel["phone_number_id"]
    ts = now_ts() - 10
    await platform.inbound(
        pnid,
        [text_message(f"wamid.{uuid.uuid4().hex}", "111", t, timestamp=ts + i)
         for i, t in enumerate(["one", "two"])],
    )  # fmt: skip
    [conversation] = await platform.wait_conversation(team["owner"])

    async def unread(name: str) -> int:
        [c] = await platform.conversations(team[name])
        return int(c["unread_count"])

    async def settled() -> bool | None:
        return True if await unread("ana") == 2 else None

    await eventually(settled)
    path = f"/api/conversations/{conversation['id']}"
    r = await platform.ingest.post(f"{path}/read", headers=team["ana"])
    assert r.status_code == 204
    assert await unread("ana") == 0
    assert await unread("bruno") == 2  # Bruno has not read it
    single = await platform.ingest.get(path, headers=team["ana"])
    assert single.json()["unread_count"] == 0

    await platform.inbound(
        pnid, [text_message(f"wamid.{uuid.uuid4().hex}", "111", "three", timestamp=ts + 5)]
    )

    async def one_more() -> bool | None:
        return True if await unread("ana") == 1 else None

    await eventually(one_more)
    assert await unread("bruno") == 3

    stranger = platform.tenant()
    assert (await platform.ingest.post(f"{path}/read", headers=stranger)).status_code == 404
    missing = await platform.ingest.post(
        f"/api/conversations/{uuid.uuid4()}/read", headers=team["ana"]
    )
    assert missing.status_code == 404


# --- a contact's data ----------------------------------------------------------------------


async def test_a_contact_is_exported_and_erased_with_their_messages_and_media(
    platform: Any,
) -> None:
    team = Team(platform)
    first, other = await conversations_of(platform, team, ["111", "222"], token=None)
    contact_id = first["contact"]["id"]
    await platform.ingest.post(
        f"/api/conversations/{first['id']}/notes", json={"text": "asked for a refund"},
        headers=team["ana"],
    )  # fmt: skip
    [inbound] = [m for m in await platform.messages(team["ana"], first["id"])][:1]
    # A stored media file of theirs (as the media fetcher leaves it).
    async with platform.db.session() as session:
        media = {"m": uuid.UUID(inbound["id"]), "t": team.tenant_id}
        await session.execute(
            text(
                "INSERT INTO ingest.media_files (message_id, tenant_id, mime_type, size_bytes)"
                " VALUES (:m, :t, 'image/jpeg', 3)"
            ),
            media,
        )
        await session.execute(
            text(
                "INSERT INTO ingest.media_chunks (message_id, seq, content) VALUES (:m, 0, 'abc')"
            ),
            {"m": media["m"]},
        )

    stranger = platform.tenant("owner")
    export_path = f"/api/contacts/{contact_id}/export"
    assert (await platform.ingest.get(export_path, headers=stranger)).status_code == 404
    r = await platform.ingest.get(export_path, headers=team["ana"])
    assert r.status_code == 200, r.text
    exported = r.json()
    assert exported["contact"]["wa_id"] == "111"
    assert [c["id"] for c in exported["conversations"]] == [first["id"]]
    assert [m["text"] for m in exported["messages"]] == ["hello from 111", "asked for a refund"]

    path = f"/api/contacts/{contact_id}"
    assert (await platform.ingest.delete(path, headers=team["ana"])).status_code == 403
    assert (await platform.ingest.delete(path, headers=stranger)).status_code == 404
    r = await platform.ingest.delete(path, headers=team["owner"])
    assert r.status_code == 204, r.text

    assert (await platform.ingest.get(path, headers=team["owner"])).status_code == 404
    assert await ids(platform, team["owner"]) == {other["id"]}
    left = await platform.sql(
        "SELECT (SELECT count(*) FROM ingest.messages WHERE conversation_id = :c),"
        " (SELECT count(*) FROM ingest.media_files WHERE message_id = :m),"
        " (SELECT count(*) FROM ingest.media_chunks WHERE message_id = :m)",
        c=uuid.UUID(first["id"]),
        m=uuid.UUID(inbound["id"]),
    )
    assert tuple(left[0]) == (0, 0, 0)
    [(body,)] = await platform.sql(
        "SELECT body FROM ingest.outbox WHERE event_type = 'contact.erased.v1'"
        " AND body->>'tenant_id' = :t",
        t=str(team.tenant_id),
    )
    assert body["payload"]["contact_id"] == contact_id
    assert body["payload"]["conversation_ids"] == [first["id"]]
    # The other customer is untouched.
    assert len(await platform.messages(team["owner"], other["id"])) == 1
