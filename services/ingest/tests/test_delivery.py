"""Agent replies delivered through a fake Graph API (a real HTTP server on 127.0.0.1):
the documented body, retry classes, the 24-hour window, sandbox, exactly-once sends, statuses
applied monotonically and in any order, inbound media fetched and served."""

import asyncio
import itertools
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text as sa_text
from sqlalchemy.engine import make_url

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
from wa_testing.plugin import TcpProxy, eventually, text_message

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
    # A number belongs to one business, even when another one's token may read it too.
    other = platform.tenant()
    waba_id = platform.graph.numbers[channel["phone_number_id"]].waba_id
    r = await platform.ingest.post(
        "/api/channels/whatsapp",
        json={
            "phone_number_id": channel["phone_number_id"],
            "waba_id": waba_id,
            "access_token": platform.graph.token,
        },
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


async def test_the_ai_s_handoff_message_goes_out_even_when_the_handoff_arrives_first(
    platform: Any, bus: Bus
) -> None:
    """The responder writes its fallback reply and the handoff in one transaction; ingest
    handles them concurrently, so the handoff may be applied first. The fallback of that very
    turn must still reach the customer; after a person took over, it must not."""
    owner, _, conversation = await live_conversation(platform)
    [inbound] = await platform.messages(owner, conversation["id"])
    tenant = tenant_of(owner)
    turn = uuid.uuid4()

    def handoff_of(message_id: uuid.UUID) -> HandoffRequestedV1:
        return HandoffRequestedV1(
            tenant_id=uuid.UUID(tenant),
            payload=HandoffRequestedPayload(
                conversation_id=uuid.UUID(conversation["id"]),
                message_id=message_id,
                reason="the knowledge service is unavailable",
            ),
        )

    def fallback_of(message_id: uuid.UUID, text: str) -> ReplyGeneratedV1:
        event = ai_reply(conversation, tenant, [text], inbound["wamid"])
        payload = event.payload.model_copy(
            update={"kind": "fallback", "in_reply_to_message_id": message_id}
        )
        return event.model_copy(update={"payload": payload})

    await bus.publish(handoff_of(turn), mandatory=True)

    async def handed_off() -> bool:
        [c] = await platform.conversations(owner)
        return bool(c["status"] == "handoff")

    await eventually(handed_off)
    await bus.publish(fallback_of(turn, "A colleague will answer you shortly."), mandatory=True)
    sent = await eventually(lambda: ai_sent(platform, owner, conversation))
    assert sent["text"] == "A colleague will answer you shortly."

    # A fallback of another turn (not the one handed off) is not let through.
    await bus.publish(fallback_of(uuid.uuid4(), "stale fallback"), mandatory=True)
    await bus.publish(ai_reply(conversation, tenant, ["marker"], inbound["wamid"]), mandatory=True)
    await asyncio.sleep(1)  # both handled by now (the same queue, in order of arrival)
    texts = [m["text"] for m in await platform.messages(owner, conversation["id"])]
    assert "stale fallback" not in texts and "marker" not in texts
    assert len(platform.graph.sends()) == 1


async def test_after_a_person_took_over_the_ai_s_late_handoff_message_stays_unsent(
    platform: Any, bus: Bus
) -> None:
    owner, _, conversation = await live_conversation(platform)
    [inbound] = await platform.messages(owner, conversation["id"])
    tenant = tenant_of(owner)
    r = await platform.ingest.patch(
        f"/api/conversations/{conversation['id']}", json={"ai_enabled": False}, headers=owner
    )
    assert r.status_code == 200
    turn = uuid.uuid4()
    await bus.publish(
        HandoffRequestedV1(
            tenant_id=uuid.UUID(tenant),
            payload=HandoffRequestedPayload(
                conversation_id=uuid.UUID(conversation["id"]), message_id=turn, reason="late"
            ),
        ),
        mandatory=True,
    )

    async def handed_off() -> bool:
        [c] = await platform.conversations(owner)
        return bool(c["status"] == "handoff")

    await eventually(handed_off)
    late = ai_reply(conversation, tenant, ["late fallback"], inbound["wamid"])
    payload = late.payload.model_copy(update={"kind": "fallback", "in_reply_to_message_id": turn})
    await bus.publish(late.model_copy(update={"payload": payload}), mandatory=True)
    await asyncio.sleep(1)
    assert "late fallback" not in [
        m["text"] for m in await platform.messages(owner, conversation["id"])
    ]
    assert platform.graph.sends() == []


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


# --- every lease ends sent, retried or failed; never sent twice; in order ------------------------


async def stuck_message(
    platform: Any,
    owner: dict[str, str],
    conversation: dict[str, Any],
    *,
    lease_s: float,
    attempt_in_flight: bool = False,
    queued_ago_s: float = 0.0,
) -> str:
    """A queued reply as a worker that stopped left it: its lease held for `lease_s` more
    seconds and, if `attempt_in_flight`, a call to Meta committed whose outcome nobody knows.
    The outbox's job was lost with that worker: the caller publishes a redelivery."""
    message_id = str(uuid.uuid4())
    async with platform.db.session() as s:
        await s.execute(
            sa_text(
                "insert into ingest.messages (id, tenant_id, conversation_id, channel_id, "
                "direction, author, type, text, status, status_rank, created_at, sending_until) "
                "select :id, tenant_id, id, channel_id, 'outbound', 'agent', 'text', 'stuck', "
                "'queued', 0, now() - make_interval(secs => :ago), "
                "now() + make_interval(secs => :lease) "
                "from ingest.conversations where id = :c"
            ),
            {"id": message_id, "c": conversation["id"], "lease": lease_s, "ago": queued_ago_s},
        )
        if attempt_in_flight:
            await s.execute(
                sa_text(
                    "insert into ingest.delivery_attempts (id, tenant_id, message_id, attempt, "
                    "outcome) select :a, tenant_id, id, 1, 'sending' "
                    "from ingest.messages where id = :id"
                ),
                {"a": str(uuid.uuid4()), "id": message_id},
            )
    return message_id


async def redeliver(bus: Bus, message_id: str) -> None:
    job = MessageOutboundQueuedV1(payload=MessageOutboundQueuedPayload(message_id=message_id))
    await bus.publish(job, mandatory=True)


async def test_a_job_finding_a_stopped_workers_lease_waits_for_it_then_sends(
    platform: Any, bus: Bus
) -> None:
    # Before the fix the job saw the lease, acked and the message stayed queued for ever.
    owner, _, conversation = await live_conversation(platform)
    started = time.monotonic()
    message_id = await stuck_message(platform, owner, conversation, lease_s=1.5)
    await redeliver(bus, message_id)
    done = await platform.wait_status(owner, conversation["id"], message_id, "sent")
    [send] = platform.graph.sends()
    assert send.at - started >= 1.4  # not before the lease ran out
    assert done["wamid"] == send.wamid
    assert [(a.attempt, a.outcome) for a in await attempts(platform, message_id)] == [(1, "sent")]


async def test_a_call_of_unknown_outcome_is_failed_not_resent_then_meta_status_repairs_it(
    platform: Any, bus: Bus
) -> None:
    owner, channel, conversation = await live_conversation(platform)
    message_id = await stuck_message(
        platform, owner, conversation, lease_s=0.3, attempt_in_flight=True
    )
    await redeliver(bus, message_id)
    failed = await platform.wait_status(owner, conversation["id"], message_id, "failed")
    assert failed["error"].startswith("outcome unknown: attempt 1 called the Graph API")
    assert "not sent again" in failed["error"]
    assert platform.graph.sends() == []  # Meta has no idempotency key: no blind resend
    assert [(a.attempt, a.outcome) for a in await attempts(platform, message_id)] == [
        (1, "unknown")
    ]
    # Meta had accepted it: its status webhook echoes our message id and repairs the message.
    delivered = {
        "id": "wamid.LOST1",
        "status": "delivered",
        "timestamp": str(now_ts()),
        "recipient_id": "16505551234",
        "biz_opaque_callback_data": message_id,
    }
    await platform.inbound(channel["phone_number_id"], [], statuses=[delivered])
    repaired = await platform.wait_status(owner, conversation["id"], message_id, "delivered")
    assert repaired["wamid"] == "wamid.LOST1" and repaired["error"] is None
    assert [(a.attempt, a.outcome) for a in await attempts(platform, message_id)] == [(1, "sent")]


async def test_a_send_that_times_out_is_failed_as_unknown_never_resent(
    platform_with: Any, graph: Any, bus: Bus
) -> None:
    graph.send_delay_s = 1.0  # Meta accepts, its answer comes after our timeout
    async with platform_with(graph_timeout_s=0.3) as platform:
        owner, _, conversation = await live_conversation(platform)
        sent = await reply(platform, owner, conversation, "slow")
        failed = await platform.wait_status(owner, conversation["id"], sent["id"], "failed")
        assert failed["error"].startswith("outcome unknown: Graph API did not answer: ReadTimeout")
        await redeliver(bus, sent["id"])
        await asyncio.sleep(0.5)  # well past the test bus's retry tiers
        assert len(graph.sends()) == 1
        assert [a.outcome for a in await attempts(platform, sent["id"])] == ["unknown"]


async def test_a_send_meta_accepted_is_recorded_once_when_the_database_drops_after_the_call(
    platform_with: Any, graph: Any, ingest_database_url: str, bus: Bus
) -> None:
    url = make_url(ingest_database_url)
    proxy = TcpProxy(url.host or "localhost", url.port or 5432)
    await proxy.start()
    cut: list[float] = []

    async def cut_the_database(request: Any) -> None:
        # Meta accepted the send; ingest's database goes away before it hears back.
        if not cut:
            cut.append(time.monotonic())
            await proxy.stop()
            asyncio.get_running_loop().call_later(1.0, lambda: asyncio.ensure_future(proxy.start()))

    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        async with platform_with(database_url=proxied) as platform:
            owner, _, conversation = await live_conversation(platform)
            graph.on_send = cut_the_database
            sent = await reply(platform, owner, conversation, "exactly once")

            async def recorded() -> list[Any]:  # read past ingest: its API shares the outage
                return await platform.sql(
                    "select wamid from ingest.messages where id = :m and status = 'sent'",
                    m=sent["id"],
                )

            [row] = await eventually(recorded)
            assert cut, "the database was never cut"
            [send] = graph.sends()
            assert row.wamid == send.wamid == "wamid.FAKE1"
            assert [(a.attempt, a.outcome) for a in await attempts(platform, sent["id"])] == [
                (1, "sent")
            ]
            # A redelivered job afterwards changes nothing.
            await redeliver(bus, sent["id"])
            await asyncio.sleep(0.5)
            assert len(graph.sends()) == 1
    finally:
        await proxy.stop()


async def test_a_token_that_cannot_be_decrypted_fails_the_message_with_the_reason(
    platform: Any,
) -> None:
    owner, channel, conversation = await live_conversation(platform)
    # The token key rotated without re-encrypting the tokens.
    other_key = Fernet.generate_key()
    async with platform.db.session() as s:
        await s.execute(
            sa_text("update ingest.channels set access_token_encrypted = :t where id = :c"),
            {"t": Fernet(other_key).encrypt(TOKEN.encode()).decode(), "c": channel["id"]},
        )
    sent = await reply(platform, owner, conversation, "hello")
    failed = await platform.wait_status(owner, conversation["id"], sent["id"], "failed")
    assert failed["error"] == "channel token cannot be decrypted with CHANNEL_TOKEN_KEY"
    assert platform.graph.sends() == []
    assert [a.outcome for a in await attempts(platform, sent["id"])] == ["failed"]
    [row] = await platform.sql(
        "select sending_until from ingest.messages where id = :m", m=sent["id"]
    )
    assert row.sending_until is None  # the lease ended with the attempt


async def publish_parts(
    platform: Any, bus: Bus, owner: dict[str, str], conversation: dict[str, Any], parts: list[str]
) -> list[dict[str, Any]]:
    [inbound] = await platform.messages(owner, conversation["id"])
    await bus.publish(
        ai_reply(conversation, tenant_of(owner), parts, inbound["wamid"]), mandatory=True
    )

    async def all_sent() -> list[dict[str, Any]] | None:
        ai = [m for m in await platform.messages(owner, conversation["id"]) if m["author"] == "ai"]
        return ai if len(ai) == len(parts) and all(m["status"] == "sent" for m in ai) else None

    result: list[dict[str, Any]] = await eventually(all_sent, timeout=20)
    return result


@pytest.mark.parametrize("storm", ["meta_130429", "bare_503"])
async def test_a_rate_limit_storm_honours_retry_after_and_sends_each_part_once_in_order(
    platform: Any, bus: Bus, storm: str
) -> None:
    owner, _, conversation = await live_conversation(platform)
    if storm == "meta_130429":
        platform.graph.fail_next(130429, times=2, http_status=429, retry_after=1)
    else:
        platform.graph.fail_next_http(503, times=2, retry_after="1")
    parts = ["Part one.", "Part two.", "Part three."]
    ai = await publish_parts(platform, bus, owner, conversation, parts)

    calls = platform.graph.sends()
    assert len(calls) == 5  # two refused, then each part once
    assert [c.json["text"]["body"] for c in platform.graph.accepted()] == parts
    assert [c.json["text"]["body"] for c in calls[:3]] == ["Part one."] * 3
    # Meta said wait one second: the next call waited at least that long, twice.
    assert calls[1].at - calls[0].at >= 1.0 and calls[2].at - calls[1].at >= 1.0
    first = next(m for m in ai if m["text"] == "Part one.")
    code = 130429 if storm == "meta_130429" else None
    assert [(a.outcome, a.error_code) for a in await attempts(platform, first["id"])] == [
        ("retry", code),
        ("retry", code),
        ("sent", None),
    ]


async def test_parts_of_a_reply_never_overtake_each_other_under_concurrent_delivery(
    platform: Any, bus: Bus
) -> None:
    # Meta is slow: every part's job is in flight at once, and still each waits its turn.
    platform.graph.send_delay_s = 0.3
    owner, _, conversation = await live_conversation(platform)
    parts = [f"Part {i}." for i in range(1, 6)]
    await publish_parts(platform, bus, owner, conversation, parts)
    accepted = platform.graph.accepted()
    assert [c.json["text"]["body"] for c in accepted] == parts
    # Part N+1 reached Meta only after part N's answer (0.3 s after its arrival).
    assert all(b.at - a.at >= 0.3 for a, b in itertools.pairwise(accepted))


async def test_a_message_stuck_in_the_queue_for_long_holds_nobody_back(platform: Any) -> None:
    # E.g. one a worker left before this release: no job will ever come for it.
    owner, _, conversation = await live_conversation(platform)
    await stuck_message(platform, owner, conversation, lease_s=0, queued_ago_s=3600)
    sent = await reply(platform, owner, conversation, "still answered")
    await platform.wait_status(owner, conversation["id"], sent["id"], "sent")
    assert [c.json["text"]["body"] for c in platform.graph.sends()] == ["still answered"]


async def test_a_failed_part_does_not_hold_back_the_next(platform: Any, bus: Bus) -> None:
    owner, _, conversation = await live_conversation(platform)
    platform.graph.fail_next(131026, details="undeliverable")
    [inbound] = await platform.messages(owner, conversation["id"])
    await bus.publish(
        ai_reply(conversation, tenant_of(owner), ["one", "two"], inbound["wamid"]), mandatory=True
    )

    async def settled() -> list[str] | None:
        ai = [m for m in await platform.messages(owner, conversation["id"]) if m["author"] == "ai"]
        states = [m["status"] for m in ai]
        return states if states == ["failed", "sent"] else None

    await eventually(settled)
    assert [c.json["text"]["body"] for c in platform.graph.sends()] == ["one", "two"]


async def test_the_next_part_follows_at_once_not_at_the_bus_next_look(
    platform_with: Any, graph: Any, bus: Bus
) -> None:
    # The production tiers' first step (1 s): a waiting part's own job would look only then.
    async with platform_with(bus_retry_delays_ms=[1000, 10000]) as platform:
        owner, _, conversation = await live_conversation(platform)
        started = time.monotonic()
        await publish_parts(platform, bus, owner, conversation, ["a", "b", "c", "d"])
        accepted = graph.accepted()
        assert [c.json["text"]["body"] for c in accepted] == ["a", "b", "c", "d"]
        # Measured 0.27 s for all four (3.2 s when each waited for its job's next look).
        assert accepted[-1].at - started < 2.0  # each wait would be >= 1 s
