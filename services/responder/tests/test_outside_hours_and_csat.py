"""Business hours and CSAT in the responder, end to end over the real broker and Postgres:
events in as ingest publishes them, the responder's events out."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from common.bus import Bus, Subscription
from common.events import (
    AutoReplyV1,
    ContactSummary,
    ConversationCSATReceivedPayload,
    ConversationCSATReceivedV1,
    ConversationMessageStoredPayload,
    ConversationMessageStoredV1,
    ConversationSummary,
    ConversationUpdatedV1,
    CSATRequestedV1,
    Envelope,
    HandoffRequestedV1,
    MessageSummary,
    ReplyGeneratedV1,
)
from responder.main import create_app
from responder.settings import ResponderSettings
from wa_testing.fakes import FakeLLM
from wa_testing.plugin import TestKeyPair, bearer, eventually, free_port, running_app

CLOSED_NOW = "We are closed today; we answer tomorrow from 9:00."


@pytest.fixture
async def client(
    responder_settings: ResponderSettings, fake_llm: FakeLLM
) -> AsyncIterator[httpx.AsyncClient]:
    settings = responder_settings.model_copy(
        update={
            # No knowledge service: a turn that reaches the AI ends in its fallback (a reply).
            "knowledge_url": f"http://127.0.0.1:{free_port()}",
            "llm_base_url": fake_llm.base_url,
            "llm_api_key": SecretStr("sk-test"),
        }
    )
    async with running_app(create_app(settings)) as c:
        yield c


class Heard:
    def __init__(self) -> None:
        self.events: list[Envelope] = []

    async def __call__(self, event: Envelope) -> None:
        self.events.append(event)

    def of(self, kind: type[Envelope], conversation: uuid.UUID) -> list[Any]:
        return [
            e
            for e in self.events
            if isinstance(e, kind) and e.payload.conversation_id == conversation  # type: ignore[attr-defined]
        ]


@pytest.fixture
async def heard(bus: Bus) -> Heard:
    listening = Heard()
    await bus.subscribe(
        Subscription(
            f"responder-test.hours.{uuid.uuid4().hex[:6]}",
            (
                "reply.auto.v1",
                "reply.generated.v1",
                "conversation.handoff.requested.v1",
                "csat.requested.v1",
            ),
            listening,
        )
    )
    return listening


def stored(
    tenant: uuid.UUID, conversation: uuid.UUID, text: str, *, ai_enabled: bool = True
) -> ConversationMessageStoredV1:
    message = MessageSummary(
        id=uuid.uuid4(),
        conversation_id=conversation,
        wamid=f"wamid.{uuid.uuid4().hex}",
        direction="inbound",
        author="customer",
        type="text",
        text=text,
        status="received",
        created_at=datetime.now(UTC),
    )
    return ConversationMessageStoredV1(
        tenant_id=tenant,
        payload=ConversationMessageStoredPayload(
            conversation_id=conversation,
            channel_id=uuid.uuid4(),
            phone_number_id="123",
            contact=ContactSummary(id=uuid.uuid4(), wa_id="351900000000", name="Inês"),
            message=message,
            conversation_status="open",
            ai_enabled=ai_enabled,
        ),
    )


async def close_today(
    client: httpx.AsyncClient, headers: dict[str, str], outside_hours: str
) -> datetime:
    """Hours that make now a closed period which began at yesterday's UTC midnight."""
    today = datetime.now(UTC).date()
    days = [(today + timedelta(days=d)).isoformat() for d in (-1, 0, 1)]
    r = await client.put(
        "/api/business-hours",
        json={"holidays": days, "auto_reply": CLOSED_NOW, "outside_hours": outside_hours},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return datetime.combine(today - timedelta(days=1), datetime.min.time(), tzinfo=UTC)


async def test_outside_hours_one_auto_reply_per_period_and_the_ai_still_answers(
    client: httpx.AsyncClient, bus: Bus, heard: Heard, test_keys: TestKeyPair
) -> None:
    tenant = uuid.uuid4()
    headers = bearer(test_keys.token(tenant_id=tenant, role="owner"))
    period_start = await close_today(client, headers, "answer")
    chat = uuid.uuid4()
    first = stored(tenant, chat, "Are you open?")
    await bus.publish(first, mandatory=True)
    await bus.publish(first, mandatory=True)  # a redelivery
    await eventually(lambda: asyncio.sleep(0, heard.of(ReplyGeneratedV1, chat)), timeout=15)
    await bus.publish(stored(tenant, chat, "Hello??"), mandatory=True)
    await eventually(
        lambda: asyncio.sleep(0, len(heard.of(ReplyGeneratedV1, chat)) >= 2 or None), timeout=15
    )
    # A person in charge of another conversation: the auto-reply still goes, no AI answer.
    paused = uuid.uuid4()
    await bus.publish(stored(tenant, paused, "Hi", ai_enabled=False), mandatory=True)
    await eventually(lambda: asyncio.sleep(0, heard.of(AutoReplyV1, paused)), timeout=15)
    await asyncio.sleep(1.0)
    [auto] = heard.of(AutoReplyV1, chat)  # two messages (and a redelivery): one auto-reply
    assert auto.payload.text == CLOSED_NOW
    assert auto.payload.period_start == period_start
    assert auto.payload.in_reply_to_message_id == first.payload.message.id
    assert auto.payload.in_reply_to_wamid == first.payload.message.wamid
    assert heard.of(ReplyGeneratedV1, paused) == []
    [other] = heard.of(AutoReplyV1, paused)
    assert other.payload.reply_id != auto.payload.reply_id


async def test_outside_hours_in_handoff_mode_a_person_takes_over_without_the_ai(
    client: httpx.AsyncClient, bus: Bus, heard: Heard, test_keys: TestKeyPair, fake_llm: FakeLLM
) -> None:
    tenant = uuid.uuid4()
    headers = bearer(test_keys.token(tenant_id=tenant, role="owner"))
    await close_today(client, headers, "handoff")
    chat = uuid.uuid4()
    event = stored(tenant, chat, "I need help with my order")
    await bus.publish(event, mandatory=True)
    await bus.publish(event, mandatory=True)  # a redelivery hands off nothing twice
    await eventually(lambda: asyncio.sleep(0, heard.of(HandoffRequestedV1, chat)), timeout=15)
    await asyncio.sleep(1.0)
    [handoff] = heard.of(HandoffRequestedV1, chat)
    assert handoff.payload.reason == "outside business hours"
    assert handoff.payload.message_id == event.payload.message.id
    assert len(heard.of(AutoReplyV1, chat)) == 1
    assert heard.of(ReplyGeneratedV1, chat) == []
    assert fake_llm.requests == []
    # Counted as a handoff in analytics.
    summary = (await client.get("/api/analytics/summary", headers=headers)).json()
    assert summary["handoffs"] == 1 and summary["ai_replies"] == 0


async def test_inside_hours_nothing_changes(
    client: httpx.AsyncClient, bus: Bus, heard: Heard, test_keys: TestKeyPair
) -> None:
    tenant = uuid.uuid4()
    headers = bearer(test_keys.token(tenant_id=tenant, role="owner"))
    r = await client.put(
        "/api/business-hours",
        json={"auto_reply": CLOSED_NOW, "outside_hours": "handoff"},  # open all day still
        headers=headers,
    )
    assert r.status_code == 200
    chat = uuid.uuid4()
    await bus.publish(stored(tenant, chat, "Hi"), mandatory=True)
    await eventually(lambda: asyncio.sleep(0, heard.of(ReplyGeneratedV1, chat)), timeout=15)
    assert heard.of(AutoReplyV1, chat) == []
    assert all(
        h.payload.reason != "outside business hours" for h in heard.of(HandoffRequestedV1, chat)
    )


def updated(
    tenant: uuid.UUID,
    conversation: uuid.UUID,
    status: str,
    *,
    at: datetime,
    wrote: bool = True,
) -> ConversationUpdatedV1:
    return ConversationUpdatedV1(
        tenant_id=tenant,
        occurred_at=at,
        payload=ConversationSummary(
            id=conversation,
            channel_id=uuid.uuid4(),
            contact=ContactSummary(id=uuid.uuid4(), wa_id="351900000000"),
            status=status,  # type: ignore[arg-type]
            ai_enabled=True,
            last_inbound_at=at - timedelta(minutes=5) if wrote else None,
        ),
    )


async def test_a_resolution_asks_for_a_rating_once(
    client: httpx.AsyncClient, bus: Bus, heard: Heard, test_keys: TestKeyPair
) -> None:
    tenant = uuid.uuid4()
    headers = bearer(test_keys.token(tenant_id=tenant, role="owner"))
    chat, silent, off = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    at = datetime.now(UTC)
    # CSAT off (the default): resolving asks nothing.
    await bus.publish(updated(tenant, off, "resolved", at=at), mandatory=True)
    await asyncio.sleep(0.5)
    r = await client.put(
        "/api/csat",
        json={"enabled": True, "question": "Did we help?", "template_name": "csat_survey"},
        headers=headers,
    )
    assert r.status_code == 200
    await bus.publish(updated(tenant, chat, "open", at=at), mandatory=True)
    resolved = updated(tenant, chat, "resolved", at=at + timedelta(seconds=1))
    await bus.publish(resolved, mandatory=True)
    await bus.publish(resolved, mandatory=True)  # a redelivery
    # A later update of the resolved conversation (a label, the rating itself): no new ask.
    await bus.publish(updated(tenant, chat, "resolved", at=at + timedelta(seconds=2)))
    # A conversation the customer never wrote in: nothing to rate.
    await bus.publish(updated(tenant, silent, "resolved", at=at, wrote=False), mandatory=True)
    await eventually(lambda: asyncio.sleep(0, heard.of(CSATRequestedV1, chat)), timeout=15)
    await asyncio.sleep(1.0)
    [ask] = heard.of(CSATRequestedV1, chat)
    assert ask.payload.question == "Did we help?"
    assert ask.payload.template_name == "csat_survey"
    assert heard.of(CSATRequestedV1, silent) == [] and heard.of(CSATRequestedV1, off) == []
    # Reopened and resolved again: a new resolution, a new request.
    await bus.publish(updated(tenant, chat, "open", at=at + timedelta(seconds=3)))
    await bus.publish(updated(tenant, chat, "resolved", at=at + timedelta(seconds=4)))
    await eventually(
        lambda: asyncio.sleep(0, len(heard.of(CSATRequestedV1, chat)) == 2 or None), timeout=15
    )
    second = heard.of(CSATRequestedV1, chat)[1]
    assert second.payload.request_id != ask.payload.request_id


async def test_ratings_show_in_analytics_by_agent_and_ai_versus_people(
    client: httpx.AsyncClient, bus: Bus, test_keys: TestKeyPair
) -> None:
    tenant = uuid.uuid4()
    headers = bearer(test_keys.token(tenant_id=tenant, role="agent"))
    ana, bruno = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    ratings = [
        (3, ana, False),
        (1, ana, False),
        (3, bruno, False),
        (3, None, True),
        (2, None, True),
    ]
    events = [
        ConversationCSATReceivedV1(
            tenant_id=tenant,
            payload=ConversationCSATReceivedPayload(
                request_id=uuid.uuid4(),
                conversation_id=uuid.uuid4(),
                message_id=uuid.uuid4(),
                score=score,  # type: ignore[arg-type]
                assignee_id=agent,
                ai_resolved=ai,
                responded_at=now,
            ),
        )
        for score, agent, ai in ratings
    ]
    for event in events:
        await bus.publish(event, mandatory=True)
    await bus.publish(events[0], mandatory=True)  # a redelivery counts once

    async def figures() -> dict[str, Any] | None:
        body = (await client.get("/api/analytics/csat", headers=headers)).json()
        return body if body["responses"] == 5 else None

    body = await eventually(figures, timeout=15)
    assert body["percent"] == 60.0
    assert body["ai"] == {"responses": 2, "percent": 50.0}
    assert body["human"] == {"responses": 3, "percent": 66.7}
    assert body["by_agent"] == [
        {"agent_id": str(ana), "responses": 2, "percent": 50.0},
        {"agent_id": str(bruno), "responses": 1, "percent": 100.0},
    ]
    summary = (await client.get("/api/analytics/summary", headers=headers)).json()
    assert summary["csat_responses"] == 5 and summary["csat_percent"] == 60.0
    today = now.date().isoformat()
    daily = (
        await client.get(f"/api/analytics/daily?from={today}&to={today}", headers=headers)
    ).json()
    [day] = daily["items"]
    assert day["csat_responses"] == 5 and day["csat_percent"] == 60.0
    # Another business: none, and null, not 0 %.
    other = bearer(test_keys.token(tenant_id=uuid.uuid4(), role="agent"))
    empty = (await client.get("/api/analytics/csat", headers=other)).json()
    assert empty == {
        "responses": 0,
        "percent": None,
        "by_agent": [],
        "ai": {"responses": 0, "percent": None},
        "human": {"responses": 0, "percent": None},
    }


async def test_a_rating_tap_gets_no_answer_and_no_auto_reply(
    client: httpx.AsyncClient, bus: Bus, heard: Heard, test_keys: TestKeyPair, fake_llm: FakeLLM
) -> None:
    tenant = uuid.uuid4()
    headers = bearer(test_keys.token(tenant_id=tenant, role="owner"))
    await close_today(client, headers, "handoff")
    chat = uuid.uuid4()
    event = stored(tenant, chat, "😀 Great")
    tap = event.model_copy(
        update={"payload": event.payload.model_copy(update={"csat_reply": True})}
    )
    await bus.publish(tap, mandatory=True)
    control = uuid.uuid4()
    await bus.publish(stored(tenant, control, "Hello"), mandatory=True)
    await eventually(lambda: asyncio.sleep(0, heard.of(AutoReplyV1, control)), timeout=15)
    await asyncio.sleep(0.5)
    for kind in (AutoReplyV1, ReplyGeneratedV1, HandoffRequestedV1):
        assert heard.of(kind, chat) == []
    assert fake_llm.requests == []
