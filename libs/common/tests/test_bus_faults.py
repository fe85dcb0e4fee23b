"""The bus through real broker faults, on a RabbitMQ node of this test's own: stop_app /
start_app, and a killed and restarted node. Consumers come back by themselves, within 10 s
of the broker accepting connections, and `check()` (what `/health` reports) tells the truth
before, during and after."""

import asyncio
import time
from collections.abc import Iterator

import pytest

from common.bus import BrokerUnavailable, Bus, Subscription
from common.events import Envelope, WhatsAppWebhookUnhandledPayload, WhatsAppWebhookUnhandledV1
from wa_testing.plugin import eventually
from wa_testing.servers import PrivateRabbitMQ

TYPE = "whatsapp.webhook.unhandled.v1"


@pytest.fixture(scope="module")
def broker() -> Iterator[PrivateRabbitMQ]:
    node = PrivateRabbitMQ().start()
    try:
        yield node
    finally:
        node.close()


def an_event(n: int) -> WhatsAppWebhookUnhandledV1:
    return WhatsAppWebhookUnhandledV1(
        payload=WhatsAppWebhookUnhandledPayload(field="account_update", reason="t", value={"n": n})
    )


async def a_bus(broker: PrivateRabbitMQ, prefix: str) -> Bus:
    bus = Bus(broker.url, prefix=prefix, service="fault-test", reconnect_interval=0.5)
    for _ in range(120):  # the node may still be booting its AMQP side
        try:
            await bus.connect(timeout=2)
            return bus
        except Exception:
            await asyncio.sleep(0.5)
    raise AssertionError("could not connect to the private broker")


async def publish_when_possible(bus: Bus, event: Envelope, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await bus.publish(event)
            return
        except BrokerUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def consumers_back(broker: PrivateRabbitMQ, queues: list[str]) -> float:
    """Seconds until the broker itself counts a consumer on each queue."""
    start = time.monotonic()

    async def all_consumed() -> bool:
        counts = await asyncio.to_thread(broker.consumers)
        return all(counts.get(q, 0) >= 1 for q in queues)

    await eventually(all_consumed, timeout=10, interval=0.25)
    return time.monotonic() - start


@pytest.mark.parametrize("fault", ["stop_app", "kill"])
async def test_consumers_resume_after_a_broker_restart(broker: PrivateRabbitMQ, fault: str) -> None:
    prefix = f"f{fault}."
    bus = await a_bus(broker, prefix)
    received: list[int] = []
    streamed: list[int] = []

    async def handler(event: Envelope) -> None:
        received.append(event.payload.value["n"])  # type: ignore[attr-defined]

    async def on_stream(event: Envelope) -> None:
        streamed.append(event.payload.value["n"])  # type: ignore[attr-defined]

    try:
        await bus.subscribe(Subscription("c.a", (TYPE,), handler))
        await bus.subscribe(Subscription("c.b", (TYPE,), lambda e: asyncio.sleep(0)))
        await bus.listen((TYPE,), on_stream, name="stream")
        assert await bus.check() == {
            "broker": "ok",
            "consumer:c.a": "ok",
            "consumer:c.b": "ok",
            "listener:stream": "ok",
        }
        await bus.publish(an_event(1))
        await eventually(lambda: asyncio.sleep(0, received == [1] and streamed == [1]))

        if fault == "stop_app":
            await asyncio.to_thread(broker.stop_app)
        else:
            await asyncio.to_thread(broker.kill)
        # Down: publishing says so at once, and the health check names every part.
        with pytest.raises(BrokerUnavailable):
            await bus.publish(an_event(2))
        down = await bus.check()
        assert set(down.values()) == {"down"}, down

        if fault == "stop_app":
            await asyncio.to_thread(broker.start_app)
        else:
            await asyncio.to_thread(broker.start)
        up_at = time.monotonic()
        await consumers_back(broker, [f"{prefix}c.a", f"{prefix}c.b"])
        assert time.monotonic() - up_at <= 10

        async def healthy() -> bool:
            return set((await bus.check()).values()) == {"ok"}

        await eventually(healthy, timeout=10)

        # Work flows again, to the durable consumer and to the live stream.
        await publish_when_possible(bus, an_event(3))
        await eventually(lambda: asyncio.sleep(0, 3 in received and 3 in streamed))
        assert received.count(3) == 1
    finally:
        await bus.close()


async def test_health_names_a_consumer_the_broker_cancelled(broker: PrivateRabbitMQ) -> None:
    """The broker cancels a consumer whose queue is deleted: `check()` must see it at once
    (the local objects still exist), and the consumer comes back on a redeclared queue."""
    bus = await a_bus(broker, "fcancel.")
    try:
        await bus.subscribe(Subscription("c.gone", (TYPE,), lambda e: asyncio.sleep(0)))
        assert (await bus.check())["consumer:c.gone"] == "ok"
        await asyncio.to_thread(broker.ctl, "delete_queue", "fcancel.c.gone")
        await consumers_back(broker, ["fcancel.c.gone"])
        await eventually(lambda: _ok(bus, "consumer:c.gone"), timeout=10)
    finally:
        await bus.close()


async def _ok(bus: Bus, key: str) -> bool:
    return (await bus.check())[key] == "ok"
