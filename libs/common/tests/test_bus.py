"""The bus against the real broker: confirms, retry tiers, dead letters, replay."""

import asyncio
import itertools
import uuid

import aio_pika
import pytest
from aio_pika.exceptions import DeliveryError

from common.bus import Bus, PermanentError, RetryAfter, Subscription
from common.events import (
    Envelope,
    WhatsAppWebhookUnhandledPayload,
    WhatsAppWebhookUnhandledV1,
)
from wa_testing.plugin import eventually

TYPE = "whatsapp.webhook.unhandled.v1"


def an_event(**payload: object) -> WhatsAppWebhookUnhandledV1:
    return WhatsAppWebhookUnhandledV1(
        payload=WhatsAppWebhookUnhandledPayload(
            field="account_update", reason="test", value=dict(payload)
        )
    )


async def test_a_confirmed_publish_reaches_the_consumer(bus: Bus) -> None:
    received: list[Envelope] = []

    async def handler(event: Envelope) -> None:
        received.append(event)

    await bus.subscribe(Subscription("c.confirmed", (TYPE,), handler))
    sent = an_event(n=1)
    await bus.publish(sent, mandatory=True)  # returns only once the broker confirmed
    await eventually(lambda: asyncio.sleep(0, received))
    assert received == [sent]
    assert bus.health() == {"broker": "ok", "consumer:c.confirmed": "ok"}


async def test_a_mandatory_publish_nobody_receives_fails_loudly(bus: Bus) -> None:
    with pytest.raises(DeliveryError):
        await bus.publish(an_event(), mandatory=True)


async def test_messages_are_persistent_and_carry_their_identity(bus: Bus) -> None:
    sub = Subscription("c.props", (TYPE,), handler=lambda e: asyncio.sleep(0))
    queue = await bus.declare(sub)  # declared, not consumed: read it raw
    event = an_event()
    await bus.publish(event)
    message = await eventually(lambda: queue.get(no_ack=True, fail=False))
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.message_id == str(event.event_id)
    assert message.correlation_id == event.correlation_id
    assert message.routing_key == TYPE


async def test_a_failing_handler_is_retried_then_dead_lettered_then_replayed(bus: Bus) -> None:
    attempts: list[uuid.UUID] = []
    healthy = asyncio.Event()

    async def handler(event: Envelope) -> None:
        attempts.append(event.event_id)
        if not healthy.is_set():
            raise RuntimeError("downstream is broken")

    await bus.subscribe(Subscription("c.retry", (TYPE,), handler))
    event = an_event()
    await bus.publish(event)

    # One try plus one per delay tier (100 ms, 200 ms), then the dead-letter queue.
    await eventually(lambda: bus.dead_letter_count("c.retry"), timeout=10)
    assert attempts == [event.event_id] * (1 + len(bus.retry_delays_ms))

    healthy.set()
    assert await bus.replay_dead_letters("c.retry") == 1
    await eventually(lambda: asyncio.sleep(0, len(attempts) == 4))
    await asyncio.sleep(0.3)  # nothing more arrives: it was handled and acked
    assert len(attempts) == 4
    assert await bus.dead_letter_count("c.retry") == 0


async def test_dead_letters_say_why(bus: Bus) -> None:
    async def handler(event: Envelope) -> None:
        raise PermanentError("tenant does not exist")

    sub = Subscription("c.reason", (TYPE,), handler)
    await bus.subscribe(sub)
    await bus.publish(an_event())
    await eventually(lambda: bus.dead_letter_count("c.reason"))
    assert bus._publish_channel is not None
    dlq = await bus._publish_channel.get_queue(bus.dlq_name("c.reason"))
    message = await dlq.get(no_ack=True)
    assert message.headers["x-dead-letter-reason"] == "permanent: tenant does not exist"
    assert message.headers["x-original-routing-key"] == TYPE
    assert message.headers["x-consumer"] == "c.reason"


async def test_a_permanent_error_skips_the_retries(bus: Bus) -> None:
    calls = 0

    async def handler(event: Envelope) -> None:
        nonlocal calls
        calls += 1
        raise PermanentError("cannot ever work")

    await bus.subscribe(Subscription("c.permanent", (TYPE,), handler))
    await bus.publish(an_event())
    await eventually(lambda: bus.dead_letter_count("c.permanent"))
    assert calls == 1


async def test_retry_after_waits_at_least_that_long_without_using_up_attempts(bus: Bus) -> None:
    # Five waits: more than the two failure tiers allow, yet never dead-lettered.
    seen: list[float] = []

    async def handler(event: Envelope) -> None:
        seen.append(asyncio.get_running_loop().time())
        if len(seen) <= 5:
            raise RetryAfter(0.15, "lease held elsewhere")

    await bus.subscribe(Subscription("c.defer", (TYPE,), handler))
    await bus.publish(an_event())
    await eventually(lambda: asyncio.sleep(0, len(seen) == 6), timeout=10)
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    # 0.15 s goes to the 200 ms tier (the shortest at least that long).
    assert min(gaps) >= 0.19, gaps
    assert await bus.dead_letter_count("c.defer") == 0
    assert bus.deferral_tier_ms(0.05) == 100 and bus.deferral_tier_ms(5) == 200


async def test_a_handler_that_never_stops_deferring_is_dead_lettered(
    amqp_url: str, bus_prefix: str
) -> None:
    capped = Bus(amqp_url, prefix=bus_prefix, retry_delays_ms=(50,), max_deferrals=3)
    await capped.connect()
    calls = 0

    async def handler(event: Envelope) -> None:
        nonlocal calls
        calls += 1
        raise RetryAfter(0.01)

    try:
        await capped.subscribe(Subscription("c.forever", (TYPE,), handler))
        await capped.publish(an_event())
        await eventually(lambda: capped.dead_letter_count("c.forever"))
        assert calls == 4
    finally:
        await capped.delete_topology(capped.declared_consumers)
        await capped.close()


async def test_an_undecodable_message_goes_to_the_dead_letter_queue(bus: Bus) -> None:
    calls = 0

    async def handler(event: Envelope) -> None:
        nonlocal calls
        calls += 1

    await bus.subscribe(Subscription("c.garbage", (TYPE,), handler))
    assert bus._exchange is not None
    await bus._exchange.publish(aio_pika.Message(b"{not json"), routing_key=TYPE)
    await eventually(lambda: bus.dead_letter_count("c.garbage"))
    assert calls == 0


async def test_each_consumer_gets_its_own_copy(bus: Bus) -> None:
    seen: dict[str, int] = {"a": 0, "b": 0}

    def counting(name: str):  # type: ignore[no-untyped-def]
        async def handler(event: Envelope) -> None:
            seen[name] += 1

        return handler

    await bus.subscribe(Subscription("c.a", (TYPE,), counting("a")))
    await bus.subscribe(Subscription("c.b", (TYPE,), counting("b")))
    await bus.publish_many([an_event(), an_event()])
    await eventually(lambda: asyncio.sleep(0, seen == {"a": 2, "b": 2}))


async def test_the_dlq_command_lists_and_replays(
    bus: Bus, amqp_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from common import dlq

    handled: list[uuid.UUID] = []
    broken = True

    async def handler(event: Envelope) -> None:
        if broken:
            raise PermanentError("not yet")
        handled.append(event.event_id)

    await bus.subscribe(Subscription("c.cli", (TYPE,), handler))
    event = an_event()
    await bus.publish(event)
    await eventually(lambda: bus.dead_letter_count("c.cli"))

    monkeypatch.setenv("AMQP_URL", amqp_url)
    monkeypatch.setenv("BUS_PREFIX", bus.prefix)
    monkeypatch.setenv("BUS_QUEUE_EXPIRES_MS", str(bus.queue_expires_ms))
    capsys.readouterr()
    await dlq.run("list", ["c.cli"], None)
    assert capsys.readouterr().out == "c.cli\t1\n"
    broken = False
    await dlq.run("replay", ["c.cli"], None)
    assert capsys.readouterr().out == "c.cli\treplayed 1\n"
    await eventually(lambda: asyncio.sleep(0, handled))
    assert handled == [event.event_id]
    # Installed services announce their consumers, so `replay` with no names covers them all.
    assert "ingest.whatsapp-messages" in dlq.known_consumers()


async def test_a_subscription_with_its_own_prefetch_holds_only_that_many(bus: Bus) -> None:
    """A consumer of big jobs (media) takes fewer deliveries at once than the bus's default:
    the rest wait in the broker, not in this process."""
    in_flight = {"small": 0, "default": 0}
    release = asyncio.Event()

    def holding(name: str):  # type: ignore[no-untyped-def]
        async def handler(event: Envelope) -> None:
            in_flight[name] += 1
            await release.wait()

        return handler

    await bus.subscribe(Subscription("c.small", (TYPE,), holding("small"), prefetch=2))
    await bus.subscribe(Subscription("c.default", (TYPE,), holding("default")))
    await bus.publish_many([an_event(n=i) for i in range(6)])

    async def ready(consumer: str) -> int:
        queue = await bus._require_channel().declare_queue(bus.queue_name(consumer), passive=True)
        return int(queue.declaration_result.message_count or 0)

    async def settled() -> bool:
        # The broker keeps 4 back from the small consumer, none from the default one.
        return in_flight == {"small": 2, "default": 6} and await ready("c.small") == 4

    await eventually(settled)
    assert await ready("c.default") == 0
    release.set()


async def test_a_retry_queue_that_vanished_is_declared_again_not_lost_into(bus: Bus) -> None:
    """Parking a failed message in a retry queue that is gone (expired by x-expires, deleted
    by an operator) was confirmed and dropped while the original was acked: the message was
    lost. Now the return fails the publish, the topology is declared again and the message
    parked there; the retry comes back."""
    attempts: list[int] = []

    async def handler(event: Envelope) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("the database is restarting")

    await bus.subscribe(Subscription("c.vanished", (TYPE,), handler))
    assert bus._publish_channel is not None
    await bus._publish_channel.queue_delete(bus.retry_queue_name("c.vanished", 100))
    await bus.publish(an_event())
    await eventually(lambda: asyncio.sleep(0, len(attempts) == 2), timeout=10)
    assert await bus.dead_letter_count("c.vanished") == 0


async def test_a_message_parked_late_in_a_retry_queue_s_life_is_not_expired_with_it(
    amqp_url: str, bus_prefix: str
) -> None:
    """With queue expiry on (tests), a quorum retry queue expired that long after it was
    declared (declaring again does not renew it) even while it held a parked message, which
    was lost with it (18 customers in the fault suite's database restart). Retry queues now
    live far longer than the other queues."""
    expiring = Bus(amqp_url, prefix=bus_prefix, retry_delays_ms=(2500,), queue_expires_ms=4000)
    await expiring.connect()
    attempts: list[float] = []

    async def handler(event: Envelope) -> None:
        attempts.append(asyncio.get_running_loop().time())
        if len(attempts) == 1:
            raise RuntimeError("the database is restarting")

    try:
        await expiring.subscribe(Subscription("c.expiring", (TYPE,), handler))
        # Parked at 3 s for 2.5 s; the queue declared at 0 would expire at 4 s.
        await asyncio.sleep(3.0)
        await expiring.publish(an_event())
        await eventually(lambda: asyncio.sleep(0, len(attempts) == 2), timeout=10)
        assert attempts[1] - attempts[0] >= 2.4  # it did wait in the retry queue
    finally:
        await expiring.delete_topology(["c.expiring"])
        await expiring.close()
