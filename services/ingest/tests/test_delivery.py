"""Agent replies delivered through a fake Graph API (a real HTTP server on 127.0.0.1):
the documented body, retry classes, the 24-hour window, sandbox, exactly-once sends, statuses
applied monotonically and in any order, inbound media fetched and served."""

import asyncio
import time
import uuid
from typing import Any

import jwt
import pytest

from common.bus import Bus
from common.events import (
    HandoffRequestedPayload,
    HandoffRequestedV1,
    MessageOutboundQueuedPayload,
    MessageOutboundQueuedV1,
    ReplyGeneratedPayload,
    ReplyGeneratedV1,
    ReplySource,
)
from common.testing import eventually, text_message

TOKEN = "EAAG-test-token"


def now_ts() -> int:
    return int(time.time())


async def live_conversation(
    platform: Any, *, token: str | None = TOKEN, sender: str = "16505551234", ts: int | None = None
) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
    owner = platform.tenant()
    channel = await platform.channel(owner, token=token)
    wamid = f"wamid.{uuid.uuid4().hex}"
    await platform.inbound(
        channel["phone_number_id"],
        [text_message(wamid, sender, "Do you deliver on Sundays?", timestamp=ts or now_ts())],
        [{"profile": {"name": "Sheena"}, "wa_id": sender}],
    )
    [conversation] = await platform.wait_conversation(owner)
    return owner, channel, conversation


async def reply(
    platform: Any, owner: dict[str, str], conversation: dict[str, Any], text: str
) -> dict[str, Any]:
    r = await platform.ingest.post(
        f"/api/conversations/{conversation['id']}/messages", json={"text": text}, headers=owner
    )
    assert r.status_code == 202, r.text
    body: dict[str, Any] = r.json()
    assert body["status"] == "queued" and body["author"] == "agent" and body["wamid"] is None
    return body


async def attempts(platform: Any, message_id: str) -> list[Any]:
    return await platform.sql(
        "select attempt, outcome, error_code from ingest.delivery_attempts "
        "where message_id = :m order by attempt",
        m=message_id,
    )


async def test_a_reply_is_delivered_with_the_documented_body(platform: Any) -> None:
    owner, channel, conversation = await live_conversation(platform)
    sent = await reply(platform, owner, conversation, "Yes, 9h à 13h 🚚 / see https://x.io")
    done = await platform.wait_status(owner, conversation["id"], sent["id"], "sent")
    [request] = platform.graph.sends()
    assert request.path == f"/{channel['phone_number_id']}/messages"
    assert request.authorization == f"Bearer {TOKEN}"
    assert request.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "text",
        "text": {"preview_url": False, "body": "Yes, 9h à 13h 🚚 / see https://x.io"},
        # Echoed in the status webhooks: how a send of unknown outcome finds its message.
        "biz_opaque_callback_data": sent["id"],
    }
    assert done["wamid"] == "wamid.FAKE1"
    assert [(a.attempt, a.outcome) for a in await attempts(platform, sent["id"])] == [(1, "sent")]
    [conv] = await platform.conversations(owner)
    assert conv["unread_count"] == 0  # an agent answered
    assert conv["last_message_preview"].startswith("Yes, 9h à 13h")


async def test_the_token_is_encrypted_at_rest_and_never_returned(platform: Any) -> None:
    owner = platform.tenant()
    channel = await platform.channel(owner, token="EAAG-secret-value-123")
    assert "access_token" not in channel and channel["mode"] == "live"
    [row] = await platform.sql(
        "select access_token_encrypted from ingest.channels where id = :i", i=channel["id"]
    )
    assert row.access_token_encrypted and "secret-value" not in row.access_token_encrypted
    listing = await platform.ingest.get("/api/channels", headers=owner)
    assert "secret-value" not in listing.text
    # A number belongs to one business.
    other = platform.tenant()
    r = await platform.ingest.post(
        "/api/channels/whatsapp",
        json={"phone_number_id": channel["phone_number_id"]},
        headers=other,
    )
    assert r.status_code == 409
    # Agents may not connect numbers.
    r = await platform.ingest.post(
        "/api/channels/whatsapp", json={"phone_number_id": "123"}, headers=platform.tenant("agent")
    )
    assert r.status_code == 403


@pytest.mark.parametrize("code", [130429, 131056, 80007, 131000])
async def test_retryable_codes_are_retried_then_sent(platform: Any, code: int) -> None:
    owner, _, conversation = await live_conversation(platform)
    platform.graph.fail_next(code)
    sent = await reply(platform, owner, conversation, "hello")
    done = await platform.wait_status(owner, conversation["id"], sent["id"], "sent")
    assert done["wamid"] == "wamid.FAKE1"
    assert len(platform.graph.sends()) == 2
    rows = await attempts(platform, sent["id"])
    assert [(a.attempt, a.outcome, a.error_code) for a in rows] == [
        (1, "retry", code),
        (2, "sent", None),
    ]


async def test_retries_run_out_then_the_message_fails_with_the_reason(platform: Any) -> None:
    owner, _, conversation = await live_conversation(platform)
    platform.graph.fail_next(
        130429, times=10, details="Cloud API message throughput has been reached."
    )
    sent = await reply(platform, owner, conversation, "hello")
    failed = await platform.wait_status(owner, conversation["id"], sent["id"], "failed")
    # The test settings have two delay tiers: three attempts, then failed.
    assert [a.outcome for a in await attempts(platform, sent["id"])] == ["retry", "retry", "failed"]
    assert "130429" in failed["error"] and "gave up after 3 attempts" in failed["error"]


@pytest.mark.parametrize("code", [131047, 190, 368, 131026])
async def test_permanent_codes_fail_at_once(platform: Any, code: int) -> None:
    owner, channel, conversation = await live_conversation(platform)
    platform.graph.fail_next(code, details=f"meta says {code}")
    sent = await reply(platform, owner, conversation, "hello")
    failed = await platform.wait_status(owner, conversation["id"], sent["id"], "failed")
    assert failed["error"] == f"{code}: meta says {code}"
    assert len(platform.graph.sends()) == 1
    assert [a.outcome for a in await attempts(platform, sent["id"])] == ["failed"]
    got = (await platform.ingest.get(f"/api/channels/{channel['id']}", headers=owner)).json()
    # An expired token flags the channel for a new one; other codes do not.
    assert got["needs_reauth"] is (code == 190)


async def test_a_redelivered_job_never_sends_twice(platform: Any, bus: Bus) -> None:
    owner, _, conversation = await live_conversation(platform)
    sent = await reply(platform, owner, conversation, "only once")
    await platform.wait_status(owner, conversation["id"], sent["id"], "sent")
    job = MessageOutboundQueuedV1(payload=MessageOutboundQueuedPayload(message_id=sent["id"]))
    await bus.publish(job, mandatory=True)
    await bus.publish(job, mandatory=True)
    await asyncio.sleep(0.5)
    assert len(platform.graph.sends()) == 1
    assert len(await attempts(platform, sent["id"])) == 1


async def test_a_sandbox_channel_records_delivery_without_calling_meta(platform: Any) -> None:
    owner, channel, conversation = await live_conversation(platform, token=None)
    assert channel["mode"] == "sandbox"
    sent = await reply(platform, owner, conversation, "sandbox reply")
    done = await platform.wait_status(owner, conversation["id"], sent["id"], "sent")
    assert done["wamid"].startswith("wamid.SANDBOX.")
    assert platform.graph.requests == []
    assert [a.outcome for a in await attempts(platform, sent["id"])] == ["sandbox"]


async def test_a_reply_outside_the_24_hour_window_is_refused(platform: Any) -> None:
    owner, _, conversation = await live_conversation(platform, ts=now_ts() - 25 * 3600)
    r = await platform.ingest.post(
        f"/api/conversations/{conversation['id']}/messages", json={"text": "late"}, headers=owner
    )
    assert r.status_code == 409
    assert "24-hour" in r.json()["detail"] and "template" in r.json()["detail"]
    assert await platform.messages(owner, conversation["id"]) != []
    assert len(await platform.messages(owner, conversation["id"])) == 1
    assert platform.graph.requests == []


async def test_statuses_only_move_forward_and_may_come_before_the_send_is_stored(
    platform: Any,
) -> None:
    owner, channel, conversation = await live_conversation(platform)
    pnid = channel["phone_number_id"]

    def status(name: str, **extra: Any) -> dict[str, Any]:
        return {
            "id": "wamid.FAKE1",
            "status": name,
            "timestamp": str(now_ts()),
            "recipient_id": "16505551234",
            **extra,
        }

    # `read` arrives before we stored the send's wamid: it is kept, then applied.
    await platform.inbound(pnid, [], statuses=[status("read")])
    await eventually(
        lambda: platform.sql("select 1 from ingest.pending_statuses where wamid = 'wamid.FAKE1'")
    )
    sent = await reply(platform, owner, conversation, "hello")
    await platform.wait_status(owner, conversation["id"], sent["id"], "read")
    # A late `delivered` (and `sent`) never overwrite `read`.
    await platform.inbound(pnid, [], statuses=[status("delivered"), status("sent")])
    await asyncio.sleep(0.5)
    [message] = [
        m for m in await platform.messages(owner, conversation["id"]) if m["id"] == sent["id"]
    ]
    assert message["status"] == "read"
    await platform.inbound(pnid, [], statuses=[status("played")])
    await platform.wait_status(owner, conversation["id"], sent["id"], "played")


async def test_a_failed_status_keeps_meta_code_and_text(platform: Any) -> None:
    owner, channel, conversation = await live_conversation(platform)
    sent = await reply(platform, owner, conversation, "hello")
    await platform.wait_status(owner, conversation["id"], sent["id"], "sent")
    failure = {
        "id": "wamid.FAKE1",
        "status": "failed",
        "timestamp": str(now_ts()),
        "recipient_id": "16505551234",
        "errors": [
            {
                "code": 131047,
                "title": "Re-engagement message",
                "error_data": {
                    "details": "Message failed to send because more than 24 hours have passed"
                },
            }
        ],
    }
    await platform.inbound(channel["phone_number_id"], [], statuses=[failure])
    failed = await platform.wait_status(owner, conversation["id"], sent["id"], "failed")
    assert failed["error"].startswith("131047: Re-engagement message: Message failed")


async def test_a_reaction_attaches_to_the_message_it_reacts_to(platform: Any) -> None:
    owner, channel, conversation = await live_conversation(platform)
    sent = await reply(platform, owner, conversation, "your order is ready")
    await platform.wait_status(owner, conversation["id"], sent["id"], "sent")
    reaction = {
        "from": "16505551234",
        "id": f"wamid.{uuid.uuid4().hex}",
        "timestamp": str(now_ts()),
        "type": "reaction",
        "reaction": {"message_id": "wamid.FAKE1", "emoji": "❤️"},
    }
    await platform.inbound(channel["phone_number_id"], [reaction])

    async def reacted() -> list[Any]:
        return [
            r
            for r in await platform.sql(
                "select reaction from ingest.messages where wamid = 'wamid.FAKE1'"
            )
            if r.reaction
        ]

    [row] = await eventually(reacted)
    assert row.reaction == "❤️"


async def test_inbound_media_is_fetched_and_served_to_the_business_only(platform: Any) -> None:
    owner = platform.tenant()
    channel = await platform.channel(owner, token=TOKEN)
    platform.graph.media["MEDIA-OK"] = (b"\x89PNG fake image bytes", "image/png")
    image = {
        "from": "16505551234",
        "id": f"wamid.{uuid.uuid4().hex}",
        "timestamp": str(now_ts()),
        "type": "image",
        "image": {"id": "MEDIA-OK", "mime_type": "image/png", "sha256": "x", "caption": "receipt"},
    }
    missing = {
        **image,
        "id": f"wamid.{uuid.uuid4().hex}",
        "image": {"id": "MEDIA-GONE", "mime_type": "image/png"},
    }
    await platform.inbound(channel["phone_number_id"], [image, missing])
    [conversation] = await platform.wait_conversation(owner)

    async def settled() -> list[dict[str, Any]] | None:
        items = await platform.messages(owner, conversation["id"])
        states = sorted(m["media"]["status"] for m in items)
        return items if states == ["failed", "stored"] else None

    items = await eventually(settled)
    stored = next(m for m in items if m["media"]["status"] == "stored")
    assert stored["media"]["url"] == f"/api/messages/{stored['id']}/media"
    r = await platform.ingest.get(stored["media"]["url"], headers=owner)
    assert r.status_code == 200
    assert r.content == b"\x89PNG fake image bytes"
    assert r.headers["content-type"] == "image/png"
    assert (
        await platform.ingest.get(stored["media"]["url"], headers=platform.tenant())
    ).status_code == 404
    info = [q for q in platform.graph.requests if q.path == "/MEDIA-OK"]
    assert info and info[0].query == {"phone_number_id": channel["phone_number_id"]}
    assert info[0].authorization == f"Bearer {TOKEN}"


def ai_reply(
    conversation: dict[str, Any], tenant: str, parts: list[str], in_reply_to: str
) -> ReplyGeneratedV1:
    source = ReplySource(
        document_id=uuid.uuid4(), filename="delivery.pdf", page=3, section="Sundays", score=0.8
    )
    return ReplyGeneratedV1(
        tenant_id=uuid.UUID(tenant),
        payload=ReplyGeneratedPayload(
            reply_id=uuid.uuid4(),
            conversation_id=uuid.UUID(conversation["id"]),
            in_reply_to_message_id=uuid.uuid4(),
            in_reply_to_wamid=in_reply_to,
            parts=parts,
            kind="answer",
            sources=[source],
        ),
    )


async def test_an_ai_reply_takes_the_same_outbound_path_and_respects_the_takeover(
    platform: Any, bus: Bus
) -> None:
    owner, _, conversation = await live_conversation(platform)
    [inbound] = await platform.messages(owner, conversation["id"])
    claims = jwt.decode(
        owner["Authorization"].removeprefix("Bearer "), options={"verify_signature": False}
    )
    tenant = claims["tid"]
    await bus.publish(
        ai_reply(conversation, tenant, ["We deliver on Sundays."], inbound["wamid"]), mandatory=True
    )

    async def ai_sent() -> dict[str, Any] | None:
        for m in await platform.messages(owner, conversation["id"]):
            if m["author"] == "ai" and m["status"] == "sent":
                return m
        return None

    sent = await eventually(ai_sent)
    assert sent["text"] == "We deliver on Sundays." and sent["direction"] == "outbound"
    # The dashboard shows what the answer was grounded on, and the message it quotes.
    [source] = sent["sources"]
    assert (source["filename"], source["page"], source["section"]) == ("delivery.pdf", 3, "Sundays")
    assert sent["context"] == {"id": inbound["wamid"]}
    assert inbound["sources"] == [] and inbound["reaction"] is None
    [request] = platform.graph.sends()
    assert request.json["context"] == {"message_id": inbound["wamid"]}

    # A person takes over: a late AI reply is dropped, never sent.
    r = await platform.ingest.patch(
        f"/api/conversations/{conversation['id']}", json={"ai_enabled": False}, headers=owner
    )
    assert r.status_code == 200
    await bus.publish(
        ai_reply(conversation, tenant, ["too late"], inbound["wamid"]), mandatory=True
    )
    handoff = HandoffRequestedV1(
        tenant_id=uuid.UUID(tenant),
        payload=HandoffRequestedPayload(
            conversation_id=uuid.UUID(conversation["id"]),
            message_id=uuid.uuid4(),
            reason="asked for a person",
        ),
    )
    await bus.publish(handoff, mandatory=True)

    async def handed_off() -> dict[str, Any] | None:
        [c] = await platform.conversations(owner)
        return c if c["status"] == "handoff" else None

    assert (await eventually(handed_off))["handoff_reason"] == "asked for a person"
    assert [
        m["text"] for m in await platform.messages(owner, conversation["id"]) if m["author"] == "ai"
    ] == ["We deliver on Sundays."]
    assert len(platform.graph.sends()) == 1


def preparing(conversation: dict[str, Any], tenant: str, inbound: dict[str, Any]) -> Any:
    from common.events import ReplyPreparingPayload, ReplyPreparingV1

    return ReplyPreparingV1(
        tenant_id=uuid.UUID(tenant),
        payload=ReplyPreparingPayload(
            conversation_id=uuid.UUID(conversation["id"]),
            message_id=uuid.UUID(inbound["id"]),
            wamid=inbound["wamid"],
        ),
    )


def tenant_of(owner: dict[str, str]) -> str:
    claims = jwt.decode(
        owner["Authorization"].removeprefix("Bearer "), options={"verify_signature": False}
    )
    return str(claims["tid"])


async def ai_sent(platform: Any, owner: dict[str, str], conversation: dict[str, Any]) -> Any:
    async def sent() -> dict[str, Any] | None:
        for m in await platform.messages(owner, conversation["id"]):
            if m["author"] == "ai" and m["status"] == "sent":
                return m
        return None

    return await eventually(sent)


async def test_while_the_ai_prepares_the_message_is_marked_read_with_typing_before_the_reply(
    platform: Any, bus: Bus
) -> None:
    # Meta answers the read receipt slowly: the reply still waits for it, never overtakes it.
    platform.graph.read_delay_s = 0.5
    owner, channel, conversation = await live_conversation(platform)
    [inbound] = await platform.messages(owner, conversation["id"])
    tenant = tenant_of(owner)
    hint = preparing(conversation, tenant, inbound)
    await bus.publish(hint)
    await bus.publish(ai_reply(conversation, tenant, ["Yes, on Sundays."], inbound["wamid"]))
    await ai_sent(platform, owner, conversation)

    posts = [r for r in platform.graph.requests if r.method == "POST"]
    assert [r.json.get("status", r.json.get("type")) for r in posts] == ["read", "text"]
    read = posts[0]
    assert read.path == f"/{channel['phone_number_id']}/messages"
    assert read.authorization == f"Bearer {TOKEN}"
    assert read.json == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": inbound["wamid"],
        "typing_indicator": {"type": "text"},
    }

    # A redelivered hint is not shown again.
    await bus.publish(hint)
    await asyncio.sleep(1.0)
    assert len(platform.graph.read_receipts()) == 1


async def test_a_failed_read_receipt_is_not_retried_and_never_holds_the_reply(
    platform: Any, bus: Bus
) -> None:
    owner, _, conversation = await live_conversation(platform)
    [inbound] = await platform.messages(owner, conversation["id"])
    tenant = tenant_of(owner)
    platform.graph.fail_next_read(131000, http_status=500)  # a retryable code, even so
    await bus.publish(preparing(conversation, tenant, inbound))
    await bus.publish(ai_reply(conversation, tenant, ["Yes, on Sundays."], inbound["wamid"]))
    await ai_sent(platform, owner, conversation)
    await asyncio.sleep(1.0)  # well past the test bus's retry tiers (100 and 200 ms)
    assert len(platform.graph.read_receipts()) == 1
    assert len(platform.graph.sends()) == 1


async def test_a_sandbox_channel_gets_no_read_receipt(platform: Any, bus: Bus) -> None:
    owner, _, conversation = await live_conversation(platform, token=None)
    [inbound] = await platform.messages(owner, conversation["id"])
    tenant = tenant_of(owner)
    await bus.publish(preparing(conversation, tenant, inbound))
    await bus.publish(ai_reply(conversation, tenant, ["Yes, on Sundays."], inbound["wamid"]))
    await ai_sent(platform, owner, conversation)
    await asyncio.sleep(0.5)
    assert platform.graph.requests == []
