"""Answering customers end to end inside the platform: events from the real broker, passages
from the real knowledge service (a real process), an LLM that is a real HTTP server."""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from common.bus import Bus, Subscription
from common.db import Database
from common.events import (
    ContactSummary,
    ConversationMessageStoredPayload,
    ConversationMessageStoredV1,
    Envelope,
    HandoffRequestedV1,
    HistoryItem,
    MessageStatusUpdatedPayload,
    MessageStatusUpdatedV1,
    MessageSummary,
    ReplyGeneratedV1,
    ReplyPreparingV1,
    TenantCreatedPayload,
    TenantCreatedV1,
)
from responder.main import create_app
from responder.settings import ResponderSettings
from wa_testing.fakes import FakeLLM
from wa_testing.plugin import (
    ServiceProcess,
    TestKeyPair,
    asgi_client,
    bearer,
    eventually,
    running_app,
)

INTERNAL = "responder-test-internal"
POLICY = (
    "Delivery\n\nWe deliver on Sundays between 9am and 1pm in the city centre. "
    "Deliveries cost 3 euros and are free above 30 euros.\n\n"
    "Returns\n\nUnopened products can be returned within 14 days with the receipt."
)


@pytest.fixture(scope="session")
def knowledge(database_url: str, amqp_url: str, test_keys: TestKeyPair) -> Iterator[dict[str, Any]]:
    """The real knowledge service (a process; it migrates its own schema), with one
    business's delivery policy indexed."""
    env = {
        "ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "AMQP_URL": amqp_url,
        "BUS_PREFIX": f"test.knowledge.{uuid.uuid4().hex[:8]}.",
        "INTERNAL_TOKEN": INTERNAL,
        "AUTH_JWKS_JSON": json.dumps(test_keys.jwks()),
        "OUTBOX_POLL_INTERVAL_S": "0.1",
    }
    process = ServiceProcess("knowledge.main:create_app", env).start(timeout=60)
    tenant = uuid.uuid4()
    token = bearer(test_keys.token(tenant_id=tenant))
    try:
        r = httpx.post(
            f"{process.url}/api/documents",
            headers=token,
            timeout=30,
            files={"file": ("delivery-policy.txt", POLICY.encode(), "text/plain")},
        )
        assert r.status_code == 202, r.text
        doc = r.json()["id"]
        deadline = time.monotonic() + 60
        while (
            httpx.get(f"{process.url}/api/documents/{doc}", headers=token).json()["status"]
            != "indexed"
        ):
            assert time.monotonic() < deadline, process.output()[-3000:]
            time.sleep(0.2)
        yield {"url": process.url, "tenant": tenant}
    finally:
        process.stop()


@pytest.fixture
def settings(
    responder_settings: ResponderSettings, knowledge: dict[str, Any], fake_llm: FakeLLM
) -> ResponderSettings:
    return responder_settings.model_copy(
        update={
            "knowledge_url": knowledge["url"],
            "internal_token": SecretStr(INTERNAL),
            "llm_base_url": fake_llm.base_url,
            "llm_api_key": SecretStr("sk-test"),
            "llm_backoff_s": 0.01,
        }
    )


class Listener:
    def __init__(self) -> None:
        self.events: list[Envelope] = []

    async def __call__(self, event: Envelope) -> None:
        self.events.append(event)

    def replies(self, conversation: uuid.UUID) -> list[ReplyGeneratedV1]:
        return [
            e
            for e in self.events
            if isinstance(e, ReplyGeneratedV1) and e.payload.conversation_id == conversation
        ]

    def preparing(self, conversation: uuid.UUID) -> list[ReplyPreparingV1]:
        return [
            e
            for e in self.events
            if isinstance(e, ReplyPreparingV1) and e.payload.conversation_id == conversation
        ]

    def handoffs(self, conversation: uuid.UUID) -> list[HandoffRequestedV1]:
        return [
            e
            for e in self.events
            if isinstance(e, HandoffRequestedV1) and e.payload.conversation_id == conversation
        ]


@pytest.fixture
async def listener(bus: Bus) -> Listener:
    listening = Listener()
    await bus.subscribe(
        Subscription(
            "responder-test.listener",
            ("reply.generated.v1", "conversation.handoff.requested.v1", "reply.preparing.v1"),
            listening,
        )
    )
    return listening


class Conversation:
    """Speaks as ingest would: one conversation, its history growing message by message."""

    def __init__(self, bus: Bus, tenant: uuid.UUID, *, ai_enabled: bool = True) -> None:
        self.bus = bus
        self.tenant = tenant
        self.id = uuid.uuid4()
        self.ai_enabled = ai_enabled
        self.status = "open"
        self.history: list[HistoryItem] = []
        self.at = datetime.now(UTC)
        self.last_event: ConversationMessageStoredV1 | None = None  # to deliver it again

    async def customer_says(self, text: str | None, *, type: str = "text") -> uuid.UUID:
        self.at += timedelta(milliseconds=10)
        message = MessageSummary(
            id=uuid.uuid4(),
            conversation_id=self.id,
            wamid=f"wamid.{uuid.uuid4().hex}",
            direction="inbound",
            author="customer",
            type=type,
            text=text,
            status="received",
            created_at=self.at,
        )
        event = ConversationMessageStoredV1(
            tenant_id=self.tenant,
            payload=ConversationMessageStoredPayload(
                conversation_id=self.id,
                channel_id=uuid.uuid4(),
                phone_number_id="123",
                contact=ContactSummary(id=uuid.uuid4(), wa_id="351900000000", name="Inês"),
                message=message,
                conversation_status=self.status,
                ai_enabled=self.ai_enabled,
                history=list(self.history),
            ),
        )
        self.history.append(
            HistoryItem(
                direction="inbound", author="customer", type=type, text=text, created_at=self.at
            )
        )
        await self.bus.publish(event, mandatory=True)
        self.last_event = event
        return message.id


@pytest.fixture
async def responder(settings: ResponderSettings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with running_app(app):
        yield app


async def test_a_grounded_answer_with_its_sources(
    responder: FastAPI, bus: Bus, listener: Listener, knowledge: dict[str, Any], fake_llm: FakeLLM
) -> None:
    await bus.publish(
        TenantCreatedV1(
            tenant_id=knowledge["tenant"],
            payload=TenantCreatedPayload(tenant_id=knowledge["tenant"], name="Padaria Lúcia"),
        )
    )
    await asyncio.sleep(0.3)
    chat = Conversation(bus, knowledge["tenant"])
    asked = await chat.customer_says("Do you deliver on Sundays?")
    [reply] = await eventually(lambda: asyncio.sleep(0, chat_replies(listener, chat)), timeout=15)
    assert reply.payload.kind == "answer"
    assert reply.payload.parts == [fake_llm.answer]
    assert reply.payload.in_reply_to_message_id == asked
    assert reply.payload.sources[0].filename == "delivery-policy.txt"
    assert reply.payload.tokens_in == 120 and reply.payload.cost_usd > 0
    [request] = fake_llm.requests
    system, *rest = request["messages"]
    assert "We deliver on Sundays between 9am and 1pm" in system["content"]  # the passage
    assert "Padaria Lúcia" in system["content"]
    assert rest == [{"role": "user", "content": "Do you deliver on Sundays?"}]
    assert listener.handoffs(chat.id) == []
    # Announced before the answer (ingest marks the message read, typing shown).
    [hint] = listener.preparing(chat.id)
    assert hint.payload.message_id == asked and hint.tenant_id == knowledge["tenant"]
    assert hint.payload.wamid is not None and hint.payload.wamid.startswith("wamid.")
    assert listener.events.index(hint) < listener.events.index(reply)


def chat_replies(listener: Listener, chat: Conversation) -> list[ReplyGeneratedV1]:
    return listener.replies(chat.id)


async def test_a_burst_gets_one_answer_to_all_of_it(
    settings: ResponderSettings,
    bus: Bus,
    listener: Listener,
    knowledge: dict[str, Any],
    fake_llm: FakeLLM,
) -> None:
    async with running_app(create_app(settings.model_copy(update={"quiet_period_s": 0.6}))):
        chat = Conversation(bus, knowledge["tenant"])
        await chat.customer_says("Hi!")
        await chat.customer_says("do you deliver")
        last = await chat.customer_says("on Sundays? and how much does it cost?")
        await eventually(lambda: asyncio.sleep(0, chat_replies(listener, chat)), timeout=15)
        await asyncio.sleep(1.0)
    [reply] = chat_replies(listener, chat)
    assert reply.payload.in_reply_to_message_id == last
    [request] = fake_llm.requests
    assert request["messages"][-1]["content"] == (
        "Hi!\ndo you deliver\non Sundays? and how much does it cost?"
    )


async def test_two_replicas_and_a_redelivery_still_answer_once(
    settings: ResponderSettings,
    bus: Bus,
    listener: Listener,
    knowledge: dict[str, Any],
    fake_llm: FakeLLM,
) -> None:
    quiet = settings.model_copy(update={"quiet_period_s": 0.3})
    async with running_app(create_app(quiet)), running_app(create_app(quiet)):
        chat = Conversation(bus, knowledge["tenant"])
        await chat.customer_says("Do you deliver on Sundays?")
        last = await chat.customer_says("How much is delivery?")
        # The same event again (Meta or the broker redelivered it), to either replica.
        event = ConversationMessageStoredV1(
            tenant_id=chat.tenant,
            payload=ConversationMessageStoredPayload(
                conversation_id=chat.id,
                channel_id=uuid.uuid4(),
                phone_number_id="123",
                contact=ContactSummary(id=uuid.uuid4(), wa_id="351900000000", name="Inês"),
                message=MessageSummary(
                    id=last,
                    conversation_id=chat.id,
                    direction="inbound",
                    author="customer",
                    type="text",
                    text="How much is delivery?",
                    status="received",
                    created_at=chat.at,
                ),
                conversation_status="open",
                ai_enabled=True,
                history=chat.history[:-1],
            ),
        )
        await bus.publish(event)
        await bus.publish(event)
        await eventually(lambda: asyncio.sleep(0, chat_replies(listener, chat)), timeout=15)
        await asyncio.sleep(1.2)
    assert len(chat_replies(listener, chat)) == 1
    assert len(fake_llm.requests) == 1


async def test_no_answer_when_the_ai_is_paused_or_for_reactions(
    responder: FastAPI,
    bus: Bus,
    listener: Listener,
    knowledge: dict[str, Any],
    fake_llm: FakeLLM,
) -> None:
    paused = Conversation(bus, knowledge["tenant"], ai_enabled=False)
    await paused.customer_says("Do you deliver on Sundays?")
    handed = Conversation(bus, knowledge["tenant"])
    handed.status = "handoff"
    await handed.customer_says("Do you deliver on Sundays?")
    reacting = Conversation(bus, knowledge["tenant"])
    await reacting.customer_says("👍", type="reaction")
    control = Conversation(bus, knowledge["tenant"])
    await control.customer_says("Do you deliver on Sundays?")
    await eventually(lambda: asyncio.sleep(0, chat_replies(listener, control)), timeout=15)
    await asyncio.sleep(0.5)
    for chat in (paused, handed, reacting):
        assert chat_replies(listener, chat) == []
        assert listener.preparing(chat.id) == []  # no read receipt, no typing indicator
    assert len(listener.preparing(control.id)) == 1
    assert len(fake_llm.requests) == 1


async def test_the_tenant_switch_turns_the_ai_off(
    responder: FastAPI,
    bus: Bus,
    listener: Listener,
    test_keys: TestKeyPair,
    fake_llm: FakeLLM,
) -> None:
    tenant = uuid.uuid4()
    async with asgi_client(responder) as client:
        r = await client.put(
            "/api/ai/settings",
            json={"enabled": False},
            headers=bearer(test_keys.token(tenant_id=tenant)),
        )
        assert r.status_code == 200
    off = Conversation(bus, tenant)
    await off.customer_says("Do you deliver on Sundays?")
    await asyncio.sleep(1.0)
    assert chat_replies(listener, off) == [] and fake_llm.requests == []
    assert listener.preparing(off.id) == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I want to talk to a human, please", "asked for a person"),
        ("What is the capital of Mongolia?", "nothing relevant"),
    ],
)
async def test_handoff_with_the_fallback_message(
    responder: FastAPI,
    bus: Bus,
    listener: Listener,
    knowledge: dict[str, Any],
    fake_llm: FakeLLM,
    text: str,
    reason: str,
) -> None:
    chat = Conversation(bus, knowledge["tenant"])
    asked = await chat.customer_says(text)
    await eventually(lambda: asyncio.sleep(0, listener.handoffs(chat.id)), timeout=15)
    [handoff] = listener.handoffs(chat.id)
    assert reason in handoff.payload.reason and handoff.payload.message_id == asked
    [reply] = chat_replies(listener, chat)
    assert reply.payload.kind == "fallback"
    assert reply.payload.parts == [
        "Thanks for your message! A member of our team will get back to you shortly."
    ]
    assert fake_llm.requests == []  # no guessing


async def test_llm_429_then_success_still_answers(
    responder: FastAPI,
    bus: Bus,
    listener: Listener,
    knowledge: dict[str, Any],
    fake_llm: FakeLLM,
) -> None:
    fake_llm.failures = [(429, "0.1")]
    chat = Conversation(bus, knowledge["tenant"])
    await chat.customer_says("Do you deliver on Sundays?")
    [reply] = await eventually(lambda: asyncio.sleep(0, chat_replies(listener, chat)), timeout=15)
    assert reply.payload.kind == "answer" and len(fake_llm.requests) == 2


async def test_a_dead_llm_means_fallback_and_handoff_never_silence(
    responder: FastAPI,
    bus: Bus,
    listener: Listener,
    knowledge: dict[str, Any],
    fake_llm: FakeLLM,
) -> None:
    fake_llm.failing_models = {"anthropic/claude-3.5-haiku"}
    chat = Conversation(bus, knowledge["tenant"])
    await chat.customer_says("Do you deliver on Sundays?")
    await eventually(lambda: asyncio.sleep(0, listener.handoffs(chat.id)), timeout=15)
    [reply] = chat_replies(listener, chat)
    assert reply.payload.kind == "fallback"
    assert "unavailable" in listener.handoffs(chat.id)[0].payload.reason


async def test_the_model_saying_it_cannot_answer_hands_over(
    responder: FastAPI,
    bus: Bus,
    listener: Listener,
    knowledge: dict[str, Any],
    fake_llm: FakeLLM,
) -> None:
    fake_llm.answer = "[HANDOFF]"
    chat = Conversation(bus, knowledge["tenant"])
    await chat.customer_says("Can I return an opened cake?")
    await eventually(lambda: asyncio.sleep(0, listener.handoffs(chat.id)), timeout=15)
    assert chat_replies(listener, chat)[0].payload.kind == "fallback"


async def test_the_offline_responder_quotes_the_knowledge(
    settings: ResponderSettings,
    bus: Bus,
    listener: Listener,
    knowledge: dict[str, Any],
) -> None:
    offline = settings.model_copy(update={"llm_api_key": None})
    async with running_app(create_app(offline)):
        chat = Conversation(bus, knowledge["tenant"])
        await chat.customer_says("How much does delivery cost?")
        [reply] = await eventually(
            lambda: asyncio.sleep(0, chat_replies(listener, chat)), timeout=15
        )
    text = reply.payload.parts[0]
    assert "Deliveries cost 3 euros" in text
    assert "_Source: delivery-policy.txt" in text
    assert reply.payload.model == "offline"


async def test_preview_answers_with_passages_and_prompt(
    responder: FastAPI, knowledge: dict[str, Any], test_keys: TestKeyPair, fake_llm: FakeLLM
) -> None:
    headers = bearer(test_keys.token(tenant_id=knowledge["tenant"]))
    async with asgi_client(responder) as client:
        r = await client.post(
            "/api/ai/preview", json={"message": "Do you deliver on Sundays?"}, headers=headers
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["reply"] == fake_llm.answer and body["handoff"] is False
        assert body["sources"][0]["filename"] == "delivery-policy.txt"
        assert "We deliver on Sundays" in body["sources"][0]["text"]
        assert "We deliver on Sundays" in body["prompt"]
        nothing = await client.post(
            "/api/ai/preview", json={"message": "Capital of Peru?"}, headers=headers
        )
        assert nothing.json()["handoff"] is True and nothing.json()["sources"] == []
        assert (
            await client.post("/api/ai/preview", json={"message": ""}, headers=headers)
        ).status_code == 422


async def test_a_costly_template_saved_before_the_checks_means_a_handoff(
    responder: FastAPI,
    knowledge: dict[str, Any],
    settings: ResponderSettings,
    test_keys: TestKeyPair,
) -> None:
    """Issue 12, finding 1: a tenant's template that does too much work fails within its
    bounds (a person takes over) instead of freezing every tenant's answers."""
    headers = bearer(test_keys.token(tenant_id=knowledge["tenant"], role="owner"))
    async with asgi_client(responder) as client:
        made = await client.post(
            "/api/prompts", json={"name": "costly", "body": "Hi"}, headers=headers
        )
        assert made.status_code == 201, made.text
        db = Database(settings.database_url)
        async with db.session() as session:  # as saved before templates were bounded
            await session.execute(
                text("update responder.prompt_templates set body = :b where id = :id"),
                {
                    "b": "{% for a in range(9999) %}{% for b in range(9999) %}{% endfor %}"
                    "{% endfor %}",
                    "id": uuid.UUID(made.json()["id"]),
                },
            )
        await db.dispose()
        await client.put(
            "/api/ai/settings", json={"prompt_template_id": made.json()["id"]}, headers=headers
        )
        try:
            started = time.perf_counter()
            r = await client.post(
                "/api/ai/preview", json={"message": "Do you deliver on Sundays?"}, headers=headers
            )
            assert time.perf_counter() - started < 3
            assert r.json()["handoff"] is True
            assert "the prompt template failed" in r.json()["handoff_reason"]
        finally:  # the knowledge tenant is shared by the other tests
            await client.put("/api/ai/settings", json={"prompt_template_id": None}, headers=headers)


async def test_analytics_match_what_happened(
    responder: FastAPI,
    bus: Bus,
    listener: Listener,
    knowledge: dict[str, Any],
    test_keys: TestKeyPair,
) -> None:
    since = datetime.now(UTC)  # earlier tests of the session wrote to this tenant too
    answered = Conversation(bus, knowledge["tenant"])
    asked = await answered.customer_says("Do you deliver on Sundays?")
    [reply] = await eventually(
        lambda: asyncio.sleep(0, chat_replies(listener, answered)), timeout=15
    )
    # ingest stores the AI's reply and WhatsApp accepts it 1.5 s after the question.
    sent_id = uuid.uuid4()
    await bus.publish(
        ConversationMessageStoredV1(
            tenant_id=answered.tenant,
            payload=ConversationMessageStoredPayload(
                conversation_id=answered.id,
                channel_id=uuid.uuid4(),
                phone_number_id="123",
                contact=ContactSummary(id=uuid.uuid4(), wa_id="351900000000", name="Inês"),
                message=MessageSummary(
                    id=sent_id,
                    conversation_id=answered.id,
                    direction="outbound",
                    author="ai",
                    type="text",
                    text=reply.payload.parts[0],
                    status="queued",
                    created_at=answered.at + timedelta(milliseconds=100),
                ),
                conversation_status="open",
                ai_enabled=True,
            ),
        )
    )
    await bus.publish(
        MessageStatusUpdatedV1(
            tenant_id=answered.tenant,
            occurred_at=answered.at + timedelta(milliseconds=1500),
            payload=MessageStatusUpdatedPayload(
                message_id=sent_id, conversation_id=answered.id, status="sent"
            ),
        )
    )
    handed = Conversation(bus, knowledge["tenant"])
    await handed.customer_says("Can I speak to a human?")
    await eventually(lambda: asyncio.sleep(0, listener.handoffs(handed.id)), timeout=15)

    headers = bearer(test_keys.token(tenant_id=knowledge["tenant"]))
    params = {
        "from": since.isoformat(),
        "to": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
    }

    async def summary() -> dict[str, Any] | None:
        async with asgi_client(responder) as client:
            body = (
                await client.get("/api/analytics/summary", params=params, headers=headers)
            ).json()
        return body if body["median_first_response_ms"] is not None else None

    figures = await eventually(summary, timeout=10)
    assert figures["messages_in"] == 2 and figures["messages_out"] == 1
    assert figures["conversations"] == 2
    assert figures["ai_replies"] == 1 and figures["handoffs"] == 1
    assert figures["median_first_response_ms"] == pytest.approx(1500, abs=1)
    assert figures["tokens_in"] == 120 and figures["tokens_out"] == 30
    assert figures["cost_usd"] == pytest.approx((120 * 0.80 + 30 * 4.00) / 1e6)
    assert asked != sent_id
    async with asgi_client(responder) as client:
        daily = (await client.get("/api/analytics/daily", params=params, headers=headers)).json()
        other = bearer(test_keys.token())
        empty = (await client.get("/api/analytics/summary", params=params, headers=other)).json()
        bad = await client.get(
            "/api/analytics/summary",
            params={"from": "2026-02-01", "to": "2026-01-01"},
            headers=headers,
        )
        # A bare `to` date is a whole day: the same figures as that day's two midnights.
        today = datetime.now(UTC).date()
        by_day = (
            await client.get(
                "/api/analytics/summary",
                params={"from": today.isoformat(), "to": today.isoformat()},
                headers=headers,
            )
        ).json()
        midnights = {
            "from": f"{today.isoformat()}T00:00:00+00:00",
            "to": f"{(today + timedelta(days=1)).isoformat()}T00:00:00+00:00",
        }
        by_moments = (
            await client.get("/api/analytics/summary", params=midnights, headers=headers)
        ).json()
        garbled = await client.get(
            "/api/analytics/daily", params={"from": "yesterday"}, headers=headers
        )
    assert by_day == by_moments and by_day["messages_in"] >= 2
    assert garbled.status_code == 422 and "yesterday" in garbled.json()["detail"]
    today = [d for d in daily["items"] if d["messages_in"]]
    assert sum(d["ai_replies"] for d in today) == 1 and sum(d["messages_in"] for d in today) == 2
    assert empty["messages_in"] == 0 and empty["median_first_response_ms"] is None
    assert bad.status_code == 422


# --- slow or hanging knowledge / LLM (nothing held while they think; a deadline) ---------------


async def idle_in_transaction(database_url: str) -> int:
    """Sessions of the test database that sit in an open transaction, waiting on their client."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            found = await conn.scalar(
                text(
                    "select count(*) from pg_stat_activity where datname = :db"
                    " and state like 'idle in transaction%'"
                ),
                {"db": make_url(database_url).database},
            )
            return int(found or 0)
    finally:
        await engine.dispose()


async def test_slow_llm_more_turns_than_connections_all_answered(
    settings: ResponderSettings,
    bus: Bus,
    listener: Listener,
    knowledge: dict[str, Any],
    fake_llm: FakeLLM,
) -> None:
    turns = 12
    small_pool = settings.model_copy(update={"db_pool_size": 2})  # 4 connections at most
    app = create_app(small_pool)
    async with running_app(app):
        fake_llm.hang()
        chats = [Conversation(bus, knowledge["tenant"]) for _ in range(turns)]
        for chat in chats:
            await chat.customer_says("Do you deliver on Sundays?")
        # Every turn is with the LLM at once: none waits for a connection to think.
        await eventually(lambda: asyncio.sleep(0, fake_llm.in_flight == turns), timeout=15)
        pool = app.state.db.engine.pool
        # The outbox relay's polls come and go; no turn keeps a connection or a transaction.
        await eventually(lambda: asyncio.sleep(0, pool.checkedout() == 0), timeout=2)
        assert await idle_in_transaction(settings.database_url) == 0
        fake_llm.release()

        async def all_answered() -> bool:
            return all(chat_replies(listener, c) for c in chats)

        await eventually(all_answered, timeout=15)
        await asyncio.sleep(0.3)
    assert fake_llm.max_in_flight == turns and len(fake_llm.requests) == turns
    for chat in chats:
        [reply] = chat_replies(listener, chat)
        assert reply.payload.kind == "answer" and listener.handoffs(chat.id) == []


async def test_past_the_deadline_the_fallback_and_a_handoff_once(
    settings: ResponderSettings,
    bus: Bus,
    listener: Listener,
    knowledge: dict[str, Any],
    fake_llm: FakeLLM,
) -> None:
    deadline = settings.model_copy(update={"answer_deadline_s": 0.5, "turn_lease_s": 5})
    async with running_app(create_app(deadline)):
        fake_llm.hang()
        chat = Conversation(bus, knowledge["tenant"])
        asked = await chat.customer_says("Do you deliver on Sundays?")
        [handoff] = await eventually(lambda: asyncio.sleep(0, listener.handoffs(chat.id)))
        assert "deadline" in handoff.payload.reason and handoff.payload.message_id == asked
        [reply] = chat_replies(listener, chat)
        assert reply.payload.kind == "fallback"
        assert reply.payload.parts == [
            "Thanks for your message! A member of our team will get back to you shortly."
        ]
        assert 500 <= reply.payload.latency_ms < 2000
        # The model answers at last: too late, nobody reads it.
        fake_llm.release()
        await eventually(lambda: asyncio.sleep(0, fake_llm.in_flight == 0))
        await asyncio.sleep(0.5)
    assert len(chat_replies(listener, chat)) == 1 and len(listener.handoffs(chat.id)) == 1
    assert len(fake_llm.requests) == 1


async def test_a_redelivered_event_is_answered_once(
    responder: FastAPI,
    bus: Bus,
    listener: Listener,
    knowledge: dict[str, Any],
    fake_llm: FakeLLM,
) -> None:
    fake_llm.delay_s = 0.5
    chat = Conversation(bus, knowledge["tenant"])
    await chat.customer_says("Do you deliver on Sundays?")
    assert chat.last_event is not None
    await eventually(lambda: asyncio.sleep(0, fake_llm.in_flight == 1))
    await bus.publish(chat.last_event)  # while the first delivery is with the LLM
    await eventually(lambda: asyncio.sleep(0, chat_replies(listener, chat)))
    await bus.publish(chat.last_event)  # and once it is answered
    await asyncio.sleep(1.0)
    assert len(chat_replies(listener, chat)) == 1 and len(fake_llm.requests) == 1


async def test_a_replica_dying_mid_answer_leaves_the_turn_to_a_redelivery(
    settings: ResponderSettings,
    responder_database_url: str,
    bus: Bus,
    listener: Listener,
    knowledge: dict[str, Any],
    fake_llm: FakeLLM,
    test_keys: TestKeyPair,
) -> None:
    lease = {"answer_deadline_s": 2.0, "turn_lease_s": 3.0}
    env = {
        "ENVIRONMENT": "test",
        "DATABASE_URL": responder_database_url,
        "AMQP_URL": settings.amqp_url,
        "BUS_PREFIX": settings.bus_prefix,
        "BUS_RETRY_DELAYS_MS": "[100, 200]",
        "OUTBOX_POLL_INTERVAL_S": "0.1",
        "AUTH_JWKS_JSON": json.dumps(test_keys.jwks()),
        "INTERNAL_TOKEN": INTERNAL,
        "KNOWLEDGE_URL": knowledge["url"],
        "LLM_BASE_URL": fake_llm.base_url,
        "LLM_API_KEY": "sk-test",
        "QUIET_PERIOD_S": "0",
        "AI_TURNS_PER_MIN": "0",  # the knowledge tenant is shared by the session's tests
        "ANSWER_DEADLINE_S": str(lease["answer_deadline_s"]),
        "TURN_LEASE_S": str(lease["turn_lease_s"]),
    }
    doomed = ServiceProcess("responder.main:create_app", env).start(timeout=60)
    try:
        fake_llm.hang()
        chat = Conversation(bus, knowledge["tenant"])
        await chat.customer_says("Do you deliver on Sundays?")
        await eventually(lambda: asyncio.sleep(0, fake_llm.in_flight == 1), timeout=15)
        claimed_at = time.monotonic()
        assert doomed.process is not None
        doomed.process.kill()  # between the claim and the record: no ack, no answer
        doomed.process.wait()
        fake_llm.release()
        async with running_app(create_app(settings.model_copy(update=lease))):
            [reply] = await eventually(
                lambda: asyncio.sleep(0, chat_replies(listener, chat)), timeout=20
            )
            answered_after = time.monotonic() - claimed_at
            await asyncio.sleep(1.0)
    finally:
        doomed.stop()
    assert reply.payload.kind == "answer" and len(chat_replies(listener, chat)) == 1
    # The redelivery came at once, and waited for the dead replica's lease to run out.
    assert answered_after >= lease["turn_lease_s"] - 0.5
    assert len(fake_llm.requests) == 2


# --- what the LLM may cost: budget, turns per minute, allowed models ---------------------------


async def spend(database_url: str, tenant: uuid.UUID, cost: float | None = None) -> float:
    """The tenant's spend this month; with `cost`, set it first."""
    db = Database(database_url, pool_size=1)
    try:
        async with db.session() as session:
            if cost is not None:
                await session.execute(
                    text(
                        "insert into responder.llm_spend (tenant_id, month, cost_usd) values"
                        " (:t, date_trunc('month', now() at time zone 'UTC')::date, :c)"
                        " on conflict (tenant_id, month) do update set cost_usd = :c"
                    ),
                    {"t": tenant, "c": cost},
                )
            found = await session.scalar(
                text(
                    "select cost_usd from responder.llm_spend where tenant_id = :t"
                    " and month = date_trunc('month', now() at time zone 'UTC')::date"
                ),
                {"t": tenant},
            )
            return float(found or 0.0)
    finally:
        await db.dispose()


async def test_a_spent_budget_means_the_fallback_and_a_handoff_without_the_llm(
    settings: ResponderSettings,
    responder_database_url: str,
    bus: Bus,
    listener: Listener,
    fake_llm: FakeLLM,
) -> None:
    tenant = uuid.uuid4()
    await spend(responder_database_url, tenant, 2.0)
    async with running_app(create_app(settings.model_copy(update={"tenant_llm_budget_usd": 2.0}))):
        chat = Conversation(bus, tenant)
        asked = await chat.customer_says("Do you deliver on Sundays?")
        [handoff] = await eventually(lambda: asyncio.sleep(0, listener.handoffs(chat.id)))
        await asyncio.sleep(0.5)
    assert handoff.payload.reason.startswith("the AI budget is exhausted ($2.00 of $2.00")
    assert handoff.payload.message_id == asked
    [reply] = chat_replies(listener, chat)  # one answer: the fallback, never silence
    assert reply.payload.kind == "fallback"
    assert reply.payload.parts == [
        "Thanks for your message! A member of our team will get back to you shortly."
    ]
    assert fake_llm.requests == []


async def test_answers_and_previews_count_in_the_budget(
    settings: ResponderSettings,
    responder_database_url: str,
    bus: Bus,
    listener: Listener,
    knowledge: dict[str, Any],
    test_keys: TestKeyPair,
    fake_llm: FakeLLM,
) -> None:
    tenant = knowledge["tenant"]  # shared: its spend so far is the baseline
    one_call = (120 * 0.80 + 30 * 4.00) / 1e6
    before = await spend(responder_database_url, tenant)
    chat = Conversation(bus, tenant)
    budget = {"tenant_llm_budget_usd": before + 1.5 * one_call}
    app = create_app(settings.model_copy(update=budget))
    async with running_app(app), asgi_client(app) as client:
        await chat.customer_says("Do you deliver on Sundays?")
        [reply] = await eventually(lambda: asyncio.sleep(0, chat_replies(listener, chat)))
        assert reply.payload.kind == "answer"
        assert await spend(responder_database_url, tenant) == pytest.approx(before + one_call)
        headers = bearer(test_keys.token(tenant_id=tenant))
        question = {"message": "Do you deliver on Sundays?"}
        first = await client.post("/api/ai/preview", json=question, headers=headers)
        assert first.status_code == 200 and first.json()["cost_usd"] == pytest.approx(one_call)
        second = await client.post("/api/ai/preview", json=question, headers=headers)
    assert second.status_code == 429 and "budget is exhausted" in second.json()["detail"]
    assert len(fake_llm.requests) == 2


async def test_turns_past_the_per_minute_limit_wait_then_are_answered(
    settings: ResponderSettings,
    responder_database_url: str,
    bus: Bus,
    listener: Listener,
) -> None:
    """Over the business's AI turns per minute, a turn is deferred (the bus redelivers it),
    not handed off and not answered twice: once the window moves on, it gets its answer."""
    tenant = uuid.uuid4()  # its own counter (no knowledge: the answers are the fallback)
    async with running_app(create_app(settings.model_copy(update={"ai_turns_per_min": 1}))):
        first, second = Conversation(bus, tenant), Conversation(bus, tenant)
        await first.customer_says("Do you deliver on Sundays?")
        await eventually(lambda: asyncio.sleep(0, chat_replies(listener, first)))
        await second.customer_says("Do you deliver on Sundays?")
        await asyncio.sleep(1.5)  # several redeliveries (the test tiers are 100-200 ms)
        assert chat_replies(listener, second) == [] and listener.preparing(second.id) == []
        db = Database(responder_database_url, pool_size=1)
        async with db.session() as session:  # as if the minute were over
            await session.execute(
                text("delete from responder.rate_limit_buckets where key = :k"),
                {"k": f"turn:{tenant}"},
            )
        await db.dispose()
        await eventually(lambda: asyncio.sleep(0, chat_replies(listener, second)))
        await asyncio.sleep(0.5)
    assert len(chat_replies(listener, first)) == 1 and len(chat_replies(listener, second)) == 1


async def test_a_stored_model_no_longer_offered_is_never_called(
    responder: FastAPI,
    settings: ResponderSettings,
    knowledge: dict[str, Any],
    test_keys: TestKeyPair,
    fake_llm: FakeLLM,
) -> None:
    """A model saved before the allow-list (or since taken off it): the default answers."""
    tenant = knowledge["tenant"]
    headers = bearer(test_keys.token(tenant_id=tenant, role="owner"))
    async with asgi_client(responder) as client:
        await client.put("/api/ai/settings", json={"persona": ""}, headers=headers)  # a row
        db = Database(settings.database_url, pool_size=1)
        async with db.session() as session:
            await session.execute(
                text(
                    "update responder.ai_settings set model = 'openai/o1-pro' where tenant_id = :t"
                ),
                {"t": tenant},
            )
        try:
            shown = (await client.get("/api/ai/settings", headers=headers)).json()
            assert shown["model"] == "anthropic/claude-3.5-haiku"  # what its answers use
            r = await client.post(
                "/api/ai/preview", json={"message": "Do you deliver on Sundays?"}, headers=headers
            )
            assert r.status_code == 200 and r.json()["reply"] == fake_llm.answer
        finally:  # the knowledge tenant is shared by the other tests
            async with db.session() as session:
                await session.execute(
                    text("update responder.ai_settings set model = null where tenant_id = :t"),
                    {"t": tenant},
                )
            await db.dispose()
    assert [request["model"] for request in fake_llm.requests] == ["anthropic/claude-3.5-haiku"]
