"""Outbox and idempotent consumption against real Postgres and RabbitMQ."""

import asyncio
import uuid

import pytest
import yarl
from sqlalchemy import Table, func, select

from common.bus import Bus, Subscription
from common.db import Database
from common.events import Envelope, WhatsAppWebhookUnhandledPayload, WhatsAppWebhookUnhandledV1
from common.idempotency import claim, idempotent
from common.outbox import OutboxRelay, add_event
from wa_testing.plugin import TcpProxy, eventually

TYPE = "whatsapp.webhook.unhandled.v1"


def an_event() -> WhatsAppWebhookUnhandledV1:
    return WhatsAppWebhookUnhandledV1(
        payload=WhatsAppWebhookUnhandledPayload(field="f", reason="test", value={})
    )


async def unpublished(db: Database, outbox: Table) -> int:
    async with db.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).where(outbox.c.published_at.is_(None))) or 0)


async def collect(bus: Bus, consumer: str) -> list[Envelope]:
    received: list[Envelope] = []

    async def handler(event: Envelope) -> None:
        received.append(event)

    await bus.subscribe(Subscription(consumer, (TYPE,), handler))
    return received


async def test_a_row_from_a_rolled_back_transaction_is_never_published(
    db: Database, outbox: Table, bus: Bus
) -> None:
    received = await collect(bus, "c.outbox.rollback")
    relay = OutboxRelay(db, outbox, bus, poll_interval=0.05)
    relay.start()
    try:
        with pytest.raises(RuntimeError):
            async with db.session() as session:
                await add_event(session, outbox, an_event())
                raise RuntimeError("the business change failed")
        committed = an_event()
        async with db.session() as session:
            await add_event(session, outbox, committed)
        await eventually(lambda: asyncio.sleep(0, received))
        await asyncio.sleep(0.3)
        assert [e.event_id for e in received] == [committed.event_id]
    finally:
        await relay.stop()


async def test_a_committed_row_is_published_after_the_broker_comes_back(
    db: Database, outbox: Table, bus: Bus, amqp_url: str
) -> None:
    received = await collect(bus, "c.outbox.catchup")
    target = yarl.URL(amqp_url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5672)
    await proxy.start()
    relay_bus = Bus(proxy.url_for(amqp_url), prefix=bus.prefix, reconnect_interval=0.2)
    await relay_bus.connect()
    relay = OutboxRelay(db, outbox, relay_bus, poll_interval=0.05)
    relay.start()
    try:
        await proxy.stop()  # the broker is unreachable for the relay
        await eventually(lambda: asyncio.sleep(0, relay_bus.health()["broker"] != "ok"))
        event = an_event()
        async with db.session() as session:
            await add_event(session, outbox, event)
        await asyncio.sleep(0.5)
        assert await unpublished(db, outbox) == 1 and received == []

        await proxy.start()  # the broker is back: the relay catches up on its own
        await eventually(lambda: asyncio.sleep(0, received), timeout=15)
        assert [e.event_id for e in received] == [event.event_id]
        assert await unpublished(db, outbox) == 0
    finally:
        await relay.stop()
        await relay_bus.close()
        await proxy.stop()


async def test_replicas_share_the_work_and_publish_each_row_once(
    db: Database, outbox: Table, bus: Bus
) -> None:
    received = await collect(bus, "c.outbox.replicas")
    events = [an_event() for _ in range(60)]
    async with db.session() as session:
        for event in events:
            await add_event(session, outbox, event)
    relays = [OutboxRelay(db, outbox, bus, poll_interval=0.05, batch_size=7) for _ in range(3)]
    for relay in relays:
        relay.start()
    try:
        await eventually(lambda: asyncio.sleep(0, len(received) >= 60), timeout=15)
        await asyncio.sleep(0.3)
        assert sorted(str(e.event_id) for e in received) == sorted(str(e.event_id) for e in events)
    finally:
        for relay in relays:
            await relay.stop()


async def test_claim_is_true_once_per_consumer(db: Database, processed: Table) -> None:
    event_id = uuid.uuid4()
    async with db.session() as session:
        assert await claim(session, processed, "consumer-a", event_id) is True
        assert await claim(session, processed, "consumer-a", event_id) is False
        # A second consumer of the same event has its own claim.
        assert await claim(session, processed, "consumer-b", event_id) is True


async def test_a_claim_rolls_back_with_the_handler(db: Database, processed: Table) -> None:
    event_id = uuid.uuid4()
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            await claim(session, processed, "c", event_id)
            raise RuntimeError("handler failed after claiming")
    async with db.session() as session:
        assert await claim(session, processed, "c", event_id) is True


async def test_a_redelivered_event_is_processed_once(
    db: Database, processed: Table, outbox: Table, bus: Bus
) -> None:
    effects: list[uuid.UUID] = []

    async def handler(session: object, event: Envelope) -> None:
        effects.append(event.event_id)

    await bus.subscribe(
        Subscription("c.idempotent", (TYPE,), idempotent(db, processed, "c.idempotent", handler))
    )
    event = an_event()
    await bus.publish(event)
    await bus.publish(event)  # the same event again, as a redelivery would bring it
    await eventually(lambda: asyncio.sleep(0, effects))
    await asyncio.sleep(0.4)
    assert effects == [event.event_id]
