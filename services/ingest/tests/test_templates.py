"""Message templates and the 24-hour window, against the fake Graph API (a real HTTP server):
sync (with paging) and list, sending a template
outside the window with its parameters checked, Meta's 132xxx errors on the message,
`window_closes_at`, and an AI answer that comes after the window closed. (Meta's template status
webhook through the gateway: tests/e2e/test_webhooks_into_ingest.py.)"""

import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import jwt

from common.bus import Bus
from common.events import ReplyGeneratedPayload, ReplyGeneratedV1
from wa_testing.plugin import eventually, text_message

TOKEN = "EAAG-test-token"
ORDER_BODY = "Hi {{1}}, your order {{2}} is on its way."


def now_ts() -> int:
    return int(time.time())


async def live_channel(platform: Any, owner: dict[str, str], *templates: dict[str, Any]) -> Any:
    """A live channel whose account has these templates at Meta before it connects."""
    number = platform.graph.add_number(
        str(uuid.uuid4().int)[:15], waba_id=str(uuid.uuid4().int)[:15], token=TOKEN
    )
    for t in templates:
        platform.graph.add_template(number.waba_id, **t)
    r = await platform.ingest.post(
        "/api/channels/whatsapp",
        json={
            "phone_number_id": number.phone_number_id,
            "waba_id": number.waba_id,
            "access_token": TOKEN,
        },
        headers=owner,
    )
    assert r.status_code == 201, r.text
    platform.graph.requests.clear()
    return r.json(), number.waba_id


async def conversation_on(
    platform: Any, owner: dict[str, str], channel: dict[str, Any], *, hours_ago: float = 0
) -> dict[str, Any]:
    await platform.inbound(
        channel["phone_number_id"],
        [
            text_message(
                f"wamid.{uuid.uuid4().hex}",
                "16505551234",
                "Where is my order?",
                timestamp=int(now_ts() - hours_ago * 3600),
            )
        ],
        [{"profile": {"name": "Ada"}, "wa_id": "16505551234"}],
    )
    [conversation] = await platform.wait_conversation(owner)
    return dict(conversation)


async def templates_of(platform: Any, owner: dict[str, str], channel_id: str) -> list[Any]:
    r = await platform.ingest.get(f"/api/channels/{channel_id}/templates", headers=owner)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def send(template: dict[str, Any]) -> dict[str, Any]:
    return {"template": template}


async def test_templates_sync_on_connect_and_on_demand_following_meta_paging(
    platform: Any,
) -> None:
    owner = platform.tenant()
    channel, waba = await live_channel(
        platform, owner, {"name": "order_update", "body": ORDER_BODY}
    )
    [first] = await templates_of(platform, owner, channel["id"])
    assert first["name"] == "order_update" and first["status"] == "APPROVED"
    assert first["components"][0]["text"] == ORDER_BODY
    for i in range(120):  # more than one page of 100
        platform.graph.add_template(waba, f"promo_{i:03}", category="MARKETING")
    r = await platform.ingest.post(f"/api/channels/{channel['id']}/templates/sync", headers=owner)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == 121
    assert set(items[0]) == {"id", "name", "language", "status", "category", "components"}
    reads = [q for q in platform.graph.requests if q.path.endswith("/message_templates")]
    assert len(reads) == 2 and reads[1].query.get("after")
    assert reads[0].authorization == f"Bearer {TOKEN}"
    assert len(await templates_of(platform, owner, channel["id"])) == 121

    # Another business sees none of it.
    other = platform.tenant()
    r = await platform.ingest.get(f"/api/channels/{channel['id']}/templates", headers=other)
    assert r.status_code == 404
    r = await platform.ingest.post(f"/api/channels/{channel['id']}/templates/sync", headers=other)
    assert r.status_code == 404


async def test_sync_is_refused_for_a_sandbox_and_answers_503_when_meta_is_down(
    platform: Any,
) -> None:
    owner = platform.tenant()
    sandbox = await platform.channel(owner)
    r = await platform.ingest.post(f"/api/channels/{sandbox['id']}/templates/sync", headers=owner)
    assert r.status_code == 409 and "sandbox" in r.json()["detail"]
    live, _ = await live_channel(platform, owner, {"name": "order_update"})
    platform.graph.fail_next_template_read(None, http_status=503)
    r = await platform.ingest.post(f"/api/channels/{live['id']}/templates/sync", headers=owner)
    assert r.status_code == 503 and "detail" in r.json()
    # What was stored before stays.
    assert [t["name"] for t in await templates_of(platform, owner, live["id"])] == ["order_update"]


async def test_a_failed_sync_does_not_fail_the_connect(platform: Any) -> None:
    owner = platform.tenant()
    number = platform.graph.add_number(str(uuid.uuid4().int)[:15], waba_id="777000111", token=TOKEN)
    platform.graph.add_template("777000111", "order_update")
    platform.graph.fail_next_template_read(None, http_status=503)
    body = {
        "phone_number_id": number.phone_number_id,
        "waba_id": "777000111",
        "access_token": TOKEN,
    }
    r = await platform.ingest.post("/api/channels/whatsapp", json=body, headers=owner)
    assert r.status_code == 201, r.text
    channel_id = r.json()["id"]
    assert await templates_of(platform, owner, channel_id) == []
    # On demand, once Meta answers again.
    r = await platform.ingest.post(f"/api/channels/{channel_id}/templates/sync", headers=owner)
    assert r.status_code == 200 and [t["name"] for t in r.json()["items"]] == ["order_update"]


async def test_a_template_goes_out_outside_the_window_with_its_components(
    platform: Any,
) -> None:
    owner = platform.tenant()
    channel, _ = await live_channel(
        platform,
        owner,
        {
            "name": "order_update",
            "body": ORDER_BODY,
            "header": {"format": "IMAGE", "example": {"header_handle": ["https://x"]}},
        },
    )
    conversation = await conversation_on(platform, owner, channel, hours_ago=30)
    assert conversation["window_closes_at"] is None
    url = f"/api/conversations/{conversation['id']}/messages"
    r = await platform.ingest.post(url, json={"text": "free text"}, headers=owner)
    assert r.status_code == 409  # free text stays refused outside the window
    r = await platform.ingest.post(
        url,
        json=send(
            {
                "name": "order_update",
                "language": "en_US",
                "parameters": {
                    "body": ["Ada", "#1234"],
                    "header": {"link": "https://example.com/box.jpg"},
                },
            }
        ),
        headers=owner,
    )
    assert r.status_code == 202, r.text
    message = r.json()
    assert message["type"] == "template" and message["status"] == "queued"
    assert "Hi Ada, your order #1234 is on its way." in message["text"]
    sent = await platform.wait_status(owner, conversation["id"], message["id"], "sent")
    assert sent["wamid"]
    [call] = platform.graph.template_sends()
    assert call.json["to"] == "16505551234"
    assert call.json["template"] == {
        "name": "order_update",
        "language": {"code": "en_US", "policy": "deterministic"},
        "components": [
            {
                "type": "header",
                "parameters": [{"type": "image", "image": {"link": "https://example.com/box.jpg"}}],
            },
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "Ada"}, {"type": "text", "text": "#1234"}],
            },
        ],
    }
    [listed] = await platform.conversations(owner)
    assert listed["last_message_preview"].startswith("[image]")


async def test_named_parameters_are_sent_with_their_names(platform: Any) -> None:
    owner = platform.tenant()
    channel, _ = await live_channel(
        platform, owner, {"name": "greeting", "body": "Hello {{first_name}}!"}
    )
    conversation = await conversation_on(platform, owner, channel)
    r = await platform.ingest.post(
        f"/api/conversations/{conversation['id']}/messages",
        json=send(
            {"name": "greeting", "language": "en_US", "parameters": {"body": {"first_name": "Ada"}}}
        ),
        headers=owner,
    )
    assert r.status_code == 202, r.text
    assert r.json()["text"] == "Hello Ada!"
    await platform.wait_status(owner, conversation["id"], r.json()["id"], "sent")
    [call] = platform.graph.template_sends()
    assert call.json["template"]["components"] == [
        {
            "type": "body",
            "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Ada"}],
        }
    ]


async def test_parameters_that_do_not_fit_are_422_naming_the_parameter(platform: Any) -> None:
    owner = platform.tenant()
    channel, _ = await live_channel(
        platform,
        owner,
        {"name": "order_update", "body": ORDER_BODY},
        {"name": "receipt", "body": "Your receipt", "header": {"format": "DOCUMENT"}},
        {"name": "greeting", "body": "Hello {{first_name}}!"},
    )
    conversation = await conversation_on(platform, owner, channel, hours_ago=30)
    url = f"/api/conversations/{conversation['id']}/messages"

    async def refused(template: dict[str, Any]) -> str:
        r = await platform.ingest.post(url, json=send(template), headers=owner)
        assert r.status_code == 422, r.text
        return str(r.json()["detail"])

    one = {"name": "order_update", "language": "en_US", "parameters": {"body": ["Ada"]}}
    assert "parameters.body[1]" in await refused(one)
    three = {"name": "order_update", "language": "en_US", "parameters": {"body": ["a", "b", "c"]}}
    assert "takes 2 parameters, got 3" in await refused(three)
    empty = {"name": "order_update", "language": "en_US", "parameters": {"body": ["Ada", " "]}}
    assert "parameters.body[1] is empty" in await refused(empty)
    assert "parameters.header.link" in await refused({"name": "receipt", "language": "en_US"})
    named = {"name": "greeting", "language": "en_US", "parameters": {"body": {"name": "Ada"}}}
    assert "parameters.body.first_name is missing" in await refused(named)
    r = await platform.ingest.post(url, json={"text": "x", "template": one}, headers=owner)
    assert r.status_code == 422
    # Nothing was stored or sent.
    assert len(await platform.messages(owner, conversation["id"])) == 1
    assert platform.graph.template_sends() == []


async def test_unknown_or_unapproved_templates_are_refused(platform: Any) -> None:
    owner = platform.tenant()
    channel, _ = await live_channel(
        platform, owner, {"name": "order_update", "body": "Hi", "status": "PENDING"}
    )
    conversation = await conversation_on(platform, owner, channel, hours_ago=30)
    url = f"/api/conversations/{conversation['id']}/messages"
    pending = {"name": "order_update", "language": "en_US"}
    r = await platform.ingest.post(url, json=send(pending), headers=owner)
    assert r.status_code == 409 and "PENDING" in r.json()["detail"]
    r = await platform.ingest.post(
        url, json=send({"name": "order_update", "language": "pt_BR"}), headers=owner
    )
    assert r.status_code == 404 and "pt_BR" in r.json()["detail"]


async def test_meta_s_template_error_is_shown_on_the_message(platform: Any) -> None:
    owner = platform.tenant()
    channel, _ = await live_channel(platform, owner, {"name": "order_update", "body": "Hi"})
    conversation = await conversation_on(platform, owner, channel, hours_ago=30)
    # Meta paused it after our last sync: the send reaches Meta and Meta refuses it.
    platform.graph.templates[0].status = "PAUSED"
    r = await platform.ingest.post(
        f"/api/conversations/{conversation['id']}/messages",
        json=send({"name": "order_update", "language": "en_US"}),
        headers=owner,
    )
    assert r.status_code == 202, r.text
    failed = await platform.wait_status(owner, conversation["id"], r.json()["id"], "failed")
    assert failed["error"].startswith("132015") and "Paused" in failed["error"]
    assert len(platform.graph.template_sends()) == 1  # not retried


async def test_window_closes_at_in_conversations(platform: Any) -> None:
    owner = platform.tenant()
    channel = await platform.channel(owner)
    open_one = await conversation_on(platform, owner, channel, hours_ago=1)
    closes = datetime.fromisoformat(open_one["window_closes_at"])
    last_inbound = datetime.fromisoformat(open_one["last_inbound_at"])
    assert closes - last_inbound == timedelta(hours=24)
    r = await platform.ingest.get(f"/api/conversations/{open_one['id']}", headers=owner)
    assert r.json()["window_closes_at"] == open_one["window_closes_at"]
    # The live stream's `conversation.updated` carries it too.
    [(payload,)] = await platform.sql(
        "select body->'payload' from ingest.outbox where event_type = 'conversation.updated.v1' "
        "and body->'payload'->>'id' = :c",
        c=open_one["id"],
    )
    assert datetime.fromisoformat(payload["window_closes_at"]) == closes

    other = platform.tenant()
    closed_channel = await platform.channel(other)
    closed = await conversation_on(platform, other, closed_channel, hours_ago=25)
    assert closed["last_inbound_at"] is not None and closed["window_closes_at"] is None


def ai_reply(conversation: dict[str, Any], tenant: str, text: str) -> ReplyGeneratedV1:
    return ReplyGeneratedV1(
        tenant_id=uuid.UUID(tenant),
        payload=ReplyGeneratedPayload(
            reply_id=uuid.uuid4(),
            conversation_id=uuid.UUID(conversation["id"]),
            in_reply_to_message_id=uuid.uuid4(),
            in_reply_to_wamid=None,
            parts=[text],
            kind="answer",
            sources=[],
        ),
    )


def tenant_of(owner: dict[str, str]) -> str:
    claims = jwt.decode(
        owner["Authorization"].removeprefix("Bearer "), options={"verify_signature": False}
    )
    return str(claims["tid"])


async def test_a_late_ai_answer_is_never_free_text_it_hands_off(platform: Any, bus: Bus) -> None:
    owner = platform.tenant()
    channel, _ = await live_channel(platform, owner, {"name": "welcome_back", "body": "Hi!"})
    conversation = await conversation_on(platform, owner, channel, hours_ago=25)
    await bus.publish(ai_reply(conversation, tenant_of(owner), "Late answer"), mandatory=True)

    async def handed_off() -> dict[str, Any] | None:
        [c] = await platform.conversations(owner)
        return c if c["status"] == "handoff" else None

    c = await eventually(handed_off)
    assert c["handoff_reason"] == "the 24-hour window closed; send a template"
    assert c["ai_enabled"] is False
    assert [m["author"] for m in await platform.messages(owner, conversation["id"])] == ["customer"]
    assert platform.graph.sends() == []


async def test_a_late_ai_answer_sends_the_reengagement_template_when_opted_in(
    platform: Any, bus: Bus
) -> None:
    owner = platform.tenant()
    channel, _ = await live_channel(platform, owner, {"name": "welcome_back", "body": "Hi!"})
    r = await platform.ingest.patch(
        f"/api/channels/{channel['id']}",
        json={"reengagement_template": {"name": "nope", "language": "en_US"}},
        headers=owner,
    )
    assert r.status_code == 422 and "reengagement_template" in r.json()["detail"]
    r = await platform.ingest.patch(
        f"/api/channels/{channel['id']}",
        json={
            "reengagement_template": {"name": "welcome_back", "language": "en_US"},
            "auto_reengage": True,
        },
        headers=owner,
    )
    assert r.status_code == 200, r.text
    assert r.json()["auto_reengage"] is True
    assert r.json()["reengagement_template"] == {"name": "welcome_back", "language": "en_US"}
    conversation = await conversation_on(platform, owner, channel, hours_ago=25)
    await bus.publish(ai_reply(conversation, tenant_of(owner), "Late answer"), mandatory=True)

    async def template_sent() -> dict[str, Any] | None:
        for m in await platform.messages(owner, conversation["id"]):
            if m["type"] == "template" and m["status"] == "sent":
                return m
        return None

    sent = await eventually(template_sent)
    assert sent["author"] == "ai" and sent["text"] == "Hi!"
    [call] = platform.graph.sends()
    assert call.json["type"] == "template" and call.json["template"]["name"] == "welcome_back"
    assert "Late answer" not in str(platform.graph.requests[-1].json)
    [c] = await platform.conversations(owner)
    assert c["status"] == "open"
