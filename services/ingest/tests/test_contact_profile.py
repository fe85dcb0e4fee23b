"""The contact page's API (docs/api.md, ingest: contacts): one contact's conversations
(`GET /api/conversations?contact_id=`) and the team's notes and custom attributes
(`PATCH /api/contacts/{id}`), which WhatsApp's profile updates never overwrite."""

import time
import uuid
from typing import Any

from wa_testing.plugin import bearer, eventually, text_message


async def write(platform: Any, pnid: str, wa_id: str, text: str, name: str) -> None:
    await platform.inbound(
        pnid,
        [text_message(f"wamid.{uuid.uuid4().hex}", wa_id, text, timestamp=int(time.time()))],
        [{"profile": {"name": name}, "wa_id": wa_id}],
    )


async def test_conversations_filter_by_contact(platform_with: Any) -> None:
    # A customer writing after `resolved` starts a new conversation here: two for one contact.
    async with platform_with(reopen_resolved_conversations=False) as platform:
        owner = platform.tenant("owner")
        pnid = (await platform.channel(owner))["phone_number_id"]
        await write(platform, pnid, "111", "first visit", "Ana")
        [first] = await platform.wait_conversation(owner, 1)
        r = await platform.ingest.patch(
            f"/api/conversations/{first['id']}", json={"status": "resolved"}, headers=owner
        )
        assert r.status_code == 200, r.text
        await write(platform, pnid, "111", "back again", "Ana")
        await write(platform, pnid, "222", "someone else", "Bruno")
        everything = await platform.wait_conversation(owner, 3)
        ana = first["contact"]["id"]
        bruno = next(c["contact"]["id"] for c in everything if c["contact"]["wa_id"] == "222")

        mine = await platform.conversations(owner, contact_id=ana)
        assert len(mine) == 2 and {c["contact"]["id"] for c in mine} == {ana}
        assert {c["status"] for c in mine} == {"resolved", "open"}
        assert [
            c["contact"]["wa_id"] for c in await platform.conversations(owner, contact_id=bruno)
        ] == ["222"]
        # Combined with the other filters, and never another business's.
        assert len(await platform.conversations(owner, contact_id=ana, status="open")) == 1
        assert await platform.conversations(platform.tenant("owner"), contact_id=ana) == []
        assert await platform.conversations(owner, contact_id=str(uuid.uuid4())) == []
        r = await platform.ingest.get("/api/conversations?contact_id=nope", headers=owner)
        assert r.status_code == 422 and "contact_id" in r.text


async def test_notes_and_attributes_are_the_teams(platform: Any) -> None:
    tenant_id = uuid.uuid4()
    owner = bearer(platform.keys.token(tenant_id=tenant_id, role="owner"))
    agent = bearer(platform.keys.token(tenant_id=tenant_id, role="agent"))
    pnid = (await platform.channel(owner))["phone_number_id"]
    await write(platform, pnid, "333", "hello", "Carla")
    [conversation] = await platform.wait_conversation(owner, 1)
    contact_id = conversation["contact"]["id"]
    path = f"/api/contacts/{contact_id}"

    fresh = (await platform.ingest.get(path, headers=owner)).json()
    assert fresh["notes"] is None and fresh["attributes"] == {}

    # Any member of the team may write them, an agent too.
    body = {"notes": "VIP since 2021", "attributes": {"plan": "gold", "city": "Porto"}}
    r = await platform.ingest.patch(path, json=body, headers=agent)
    assert r.status_code == 200, r.text
    assert r.json()["notes"] == "VIP since 2021"
    assert r.json()["attributes"] == {"plan": "gold", "city": "Porto"}

    # Absent fields stay; attributes are replaced whole.
    r = await platform.ingest.patch(path, json={"attributes": {"plan": "silver"}}, headers=owner)
    assert r.json()["notes"] == "VIP since 2021" and r.json()["attributes"] == {"plan": "silver"}

    # A new message refreshes the WhatsApp name, not the team's data.
    await write(platform, pnid, "333", "again", "Carla M.")

    async def renamed() -> dict[str, Any] | None:
        got = (await platform.ingest.get(path, headers=owner)).json()
        return got if got["name"] == "Carla M." else None

    got = await eventually(renamed)
    assert got["notes"] == "VIP since 2021" and got["attributes"] == {"plan": "silver"}
    exported = (await platform.ingest.get(f"{path}/export", headers=owner)).json()
    assert exported["contact"]["attributes"] == {"plan": "silver"}
    listed = (await platform.ingest.get("/api/contacts", headers=owner)).json()["items"]
    assert listed[0]["notes"] == "VIP since 2021"

    # null clears the notes, {} the attributes.
    r = await platform.ingest.patch(path, json={"notes": None, "attributes": {}}, headers=owner)
    assert r.status_code == 200 and r.json()["notes"] is None and r.json()["attributes"] == {}


async def test_bad_contact_patches_are_clear_4xx(platform: Any) -> None:
    owner = platform.tenant("owner")
    pnid = (await platform.channel(owner))["phone_number_id"]
    await write(platform, pnid, "444", "hello", "Dan")
    [conversation] = await platform.wait_conversation(owner, 1)
    path = f"/api/contacts/{conversation['contact']['id']}"
    bad = [
        ({"attributes": {"plan": 3}}, "attributes"),
        ({"attributes": {"  ": "x"}}, "attributes"),
        ({"attributes": {f"k{i}": "v" for i in range(51)}}, "attributes"),
        ({"attributes": {"plan": "x" * 1025}}, "attributes"),
        ({"notes": "x" * 8193}, "notes"),
        ({"notes": "a\u0000b"}, "notes"),
        ({"name": "Renamed"}, "name"),  # WhatsApp's, not the team's
    ]
    for body, field in bad:
        r = await platform.ingest.patch(path, json=body, headers=owner)
        assert r.status_code == 422, (body, r.text)
        assert field in r.text, (body, r.text)
    stranger = platform.tenant("owner")
    r = await platform.ingest.patch(path, json={"notes": "mine now"}, headers=stranger)
    assert r.status_code == 404 and r.json() == {"detail": "contact not found"}
    assert (await platform.ingest.get(path, headers=owner)).json()["notes"] is None
