"""CSAT and the outside-hours auto-reply in ingest, against the fake Graph API (a real HTTP
server) through the real gateway and broker: the responder's events in, what reaches Meta
and what the API shows out."""

import asyncio
import time
import uuid
from typing import Any

import jwt
import pytest

from common.bus import Bus
from common.events import (
    AutoReplyPayload,
    AutoReplyV1,
    CSATRequestedPayload,
    CSATRequestedV1,
)
from wa_testing.fakes import interactive_error
from wa_testing.plugin import eventually, text_message

TOKEN = "EAAG-test-token"
CUSTOMER = "16505551234"
QUESTION = "How would you rate our support?"


def now_ts() -> int:
    return int(time.time())


def tenant_of(owner: dict[str, str]) -> uuid.UUID:
    claims = jwt.decode(
        owner["Authorization"].removeprefix("Bearer "), options={"verify_signature": False}
    )
    return uuid.UUID(claims["tid"])


async def live_channel(platform: Any, owner: dict[str, str], *templates: dict[str, Any]) -> Any:
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
    return r.json()


async def customer_writes(
    platform: Any, owner: dict[str, str], channel: dict[str, Any], *, hours_ago: float = 0
) -> dict[str, Any]:
    wamid = f"wamid.{uuid.uuid4().hex}"
    await platform.inbound(
        channel["phone_number_id"],
        [
            text_message(
                wamid, CUSTOMER, "Where is my order?", timestamp=int(now_ts() - hours_ago * 3600)
            )
        ],
        [{"profile": {"name": "Ada"}, "wa_id": CUSTOMER}],
    )
    [conversation] = await platform.wait_conversation(owner)
    return {**conversation, "customer_wamid": wamid}


async def resolve(platform: Any, owner: dict[str, str], conversation: dict[str, Any]) -> None:
    r = await platform.ingest.patch(
        f"/api/conversations/{conversation['id']}", json={"status": "resolved"}, headers=owner
    )
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    assert r.json()["csat"] is None


def csat_request(
    owner: dict[str, str], conversation: dict[str, Any], template_name: str | None = None
) -> CSATRequestedV1:
    return CSATRequestedV1(
        tenant_id=tenant_of(owner),
        payload=CSATRequestedPayload(
            request_id=uuid.uuid4(),
            conversation_id=uuid.UUID(conversation["id"]),
            question=QUESTION,
            template_name=template_name,
        ),
    )


async def tap(platform: Any, channel: dict[str, Any], message: dict[str, Any]) -> str:
    wamid = f"wamid.{uuid.uuid4().hex}"
    await platform.inbound(
        channel["phone_number_id"],
        [{"from": CUSTOMER, "id": wamid, "timestamp": str(now_ts()), **message}],
        [{"profile": {"name": "Ada"}, "wa_id": CUSTOMER}],
    )
    return wamid


async def sent_of_type(
    platform: Any, owner: dict[str, str], conversation_id: str, kind: str
) -> Any:
    async def sent() -> dict[str, Any] | None:
        for m in await platform.messages(owner, conversation_id):
            if m["type"] == kind and m["status"] == "sent":
                return m
        return None

    return await eventually(sent)


async def test_the_auto_reply_goes_out_once_whoever_is_in_charge(platform: Any, bus: Bus) -> None:
    owner = platform.tenant()
    channel = await live_channel(platform, owner)
    conversation = await customer_writes(platform, owner, channel)
    # A person has it: the business's auto-reply still goes (no AI answer would).
    r = await platform.ingest.patch(
        f"/api/conversations/{conversation['id']}", json={"status": "handoff"}, headers=owner
    )
    assert r.status_code == 200
    event = AutoReplyV1(
        tenant_id=tenant_of(owner),
        payload=AutoReplyPayload(
            reply_id=uuid.uuid4(),
            conversation_id=uuid.UUID(conversation["id"]),
            in_reply_to_message_id=uuid.uuid4(),
            in_reply_to_wamid=conversation["customer_wamid"],
            text="We are closed; we answer from 9:00.",
            period_start=conversation["last_inbound_at"],
        ),
    )
    await bus.publish(event, mandatory=True)
    await bus.publish(event, mandatory=True)  # a redelivery sends nothing twice
    sent = await sent_of_type(platform, owner, conversation["id"], "text")
    assert sent["author"] == "ai" and sent["text"] == "We are closed; we answer from 9:00."
    await asyncio.sleep(0.5)
    [call] = platform.graph.sends()
    assert call.json["text"]["body"] == "We are closed; we answer from 9:00."
    assert call.json["context"] == {"message_id": conversation["customer_wamid"]}


async def test_resolve_asks_with_three_buttons_and_the_tap_rates_without_reopening(
    platform: Any, bus: Bus
) -> None:
    owner = platform.tenant()
    channel = await live_channel(platform, owner)
    conversation = await customer_writes(platform, owner, channel)
    await resolve(platform, owner, conversation)
    request = csat_request(owner, conversation)
    await bus.publish(request, mandatory=True)
    await bus.publish(request, mandatory=True)  # a redelivery asks nothing twice
    asked = await sent_of_type(platform, owner, conversation["id"], "interactive")
    assert asked["text"] == QUESTION and asked["author"] == "ai"
    await asyncio.sleep(0.5)
    [call] = platform.graph.interactive_sends()
    assert len(platform.graph.sends()) == 1
    interactive = call.json["interactive"]
    assert interactive["type"] == "button" and interactive["body"] == {"text": QUESTION}
    buttons = interactive["action"]["buttons"]
    assert [b["reply"]["id"] for b in buttons] == ["csat:3", "csat:2", "csat:1"]
    assert all(b["type"] == "reply" and len(b["reply"]["title"]) <= 20 for b in buttons)
    assert call.status_code == 200  # Meta's rules (the fake checks them) accepted it

    await tap(
        platform,
        channel,
        {
            "type": "interactive",
            "interactive": {
                "type": "button_reply",
                "button_reply": {"id": "csat:3", "title": "😀 Great"},
            },
            "context": {"from": "15550783881", "id": call.wamid},
        },
    )

    async def rated() -> dict[str, Any] | None:
        r = await platform.ingest.get(f"/api/conversations/{conversation['id']}", headers=owner)
        return r.json() if r.json()["csat"] else None

    c = await eventually(rated)
    assert c["csat"]["score"] == 3 and c["csat"]["label"] == "Great"
    assert c["csat"]["responded_at"]
    assert c["status"] == "resolved"  # not reopened
    assert len(await platform.conversations(owner)) == 1  # and no new conversation
    thread = await platform.messages(owner, conversation["id"])
    # (Meta's timestamps are whole seconds: the tap may sort before the question.)
    [tapped] = [m for m in thread if m["direction"] == "inbound" and m["type"] == "interactive"]
    assert tapped["author"] == "customer"
    # Stored like any message, marked so the responder does not answer it.
    [(stored,)] = await platform.sql(
        "select body->'payload' from ingest.outbox where event_type = "
        "'conversation.message.stored.v1' and body->'payload'->'message'->>'direction' = "
        "'inbound' and body->'payload'->>'conversation_id' = :c and "
        "(body->'payload'->>'csat_reply')::boolean",
        c=conversation["id"],
    )
    assert stored["message"]["type"] == "interactive"
    [(received,)] = await platform.sql(
        "select body->'payload' from ingest.outbox where event_type = "
        "'conversation.csat.received.v1' and body->'payload'->>'conversation_id' = :c",
        c=conversation["id"],
    )
    assert received["score"] == 3 and received["ai_resolved"] is True
    assert received["request_id"] == str(request.payload.request_id)
    # The live stream's conversation.updated carries the rating.
    updates = await platform.sql(
        "select body->'payload'->'csat' from ingest.outbox where event_type = "
        "'conversation.updated.v1' and body->'payload'->>'id' = :c"
        # In the order they were written (a select without one has none).
        " order by created_at, body->>'occurred_at'",
        c=conversation["id"],
    )
    assert updates[-1][0]["score"] == 3

    # A second tap: stored, but the first answer stays the rating.
    await tap(
        platform,
        channel,
        {
            "type": "interactive",
            "interactive": {
                "type": "button_reply",
                "button_reply": {"id": "csat:1", "title": "🙁 Poor"},
            },
        },
    )
    await platform.wait_messages(owner, conversation["id"], len(thread) + 1)
    r = await platform.ingest.get(f"/api/conversations/{conversation['id']}", headers=owner)
    assert r.json()["csat"]["score"] == 3 and r.json()["status"] == "resolved"
    assert len(platform.graph.sends()) == 1  # nothing answered the taps


CSAT_TEMPLATE = {
    "name": "csat_survey",
    "components": [
        {"type": "BODY", "text": "How did we do?"},
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "QUICK_REPLY", "text": "Great"},
                {"type": "QUICK_REPLY", "text": "OK"},
                {"type": "QUICK_REPLY", "text": "Poor"},
            ],
        },
    ],
}


async def test_outside_the_window_the_template_carries_the_payloads(
    platform: Any, bus: Bus
) -> None:
    owner = platform.tenant()
    channel = await live_channel(platform, owner, CSAT_TEMPLATE)
    conversation = await customer_writes(platform, owner, channel, hours_ago=25)
    await resolve(platform, owner, conversation)
    await bus.publish(csat_request(owner, conversation, "csat_survey"), mandatory=True)
    asked = await sent_of_type(platform, owner, conversation["id"], "template")
    assert asked["text"] == "How did we do?"
    [call] = platform.graph.template_sends()
    template = call.json["template"]
    assert template["name"] == "csat_survey"
    assert [c for c in template["components"] if c["type"] == "button"] == [
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": str(i),
            "parameters": [{"type": "payload", "payload": f"csat:{score}"}],
        }
        for i, score in enumerate((3, 2, 1))
    ]
    await tap(
        platform, channel, {"type": "button", "button": {"payload": "csat:1", "text": "Poor"}}
    )

    async def rated() -> dict[str, Any] | None:
        r = await platform.ingest.get(f"/api/conversations/{conversation['id']}", headers=owner)
        return r.json() if r.json()["csat"] else None

    c = await eventually(rated)
    assert c["csat"]["score"] == 1 and c["csat"]["label"] == "Poor"
    assert c["status"] == "resolved"


async def test_without_window_or_template_nothing_is_sent(platform: Any, bus: Bus) -> None:
    owner = platform.tenant()
    channel = await live_channel(platform, owner)
    conversation = await customer_writes(platform, owner, channel, hours_ago=25)
    await resolve(platform, owner, conversation)
    request = csat_request(owner, conversation)  # no template set
    await bus.publish(request, mandatory=True)

    async def recorded() -> list[Any] | None:
        rows = await platform.sql(
            "select message_id from ingest.csat_requests where id = :r",
            r=str(request.payload.request_id),
        )
        return rows or None

    [(message_id,)] = await eventually(recorded)
    assert message_id is None
    assert platform.graph.sends() == []
    # Nothing was queued either: the thread holds only the customer's message.
    assert len(await platform.messages(owner, conversation["id"])) == 1


@pytest.mark.parametrize(
    ("interactive", "why"),
    [
        ({"type": "list"}, "type"),
        ({"type": "button", "body": {"text": ""}, "action": {"buttons": []}}, "body.text"),
        ({"type": "button", "body": {"text": "Q"}, "action": {"buttons": []}}, "1 to 3"),
        (
            {
                "type": "button",
                "body": {"text": "Q"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": str(i), "title": "t"}} for i in range(4)
                    ]
                },
            },
            "1 to 3",
        ),
        (
            {
                "type": "button",
                "body": {"text": "Q"},
                "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "x" * 21}}]},
            },
            "1-20",
        ),
        (
            {
                "type": "button",
                "body": {"text": "Q"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "a", "title": "x"}},
                        {"type": "reply", "reply": {"id": "a", "title": "y"}},
                    ]
                },
            },
            "unique",
        ),
    ],
)
def test_the_fake_refuses_interactive_messages_meta_would(
    interactive: dict[str, Any], why: str
) -> None:
    refused = interactive_error({"type": "interactive", "interactive": interactive})
    assert refused is not None and why in refused


def test_our_question_fits_meta_s_rules() -> None:
    from ingest.csat import interactive_question

    assert interactive_error({"interactive": interactive_question(QUESTION)}) is None
    assert interactive_error({"interactive": interactive_question("q" * 5000)}) is None
