"""The live stream's replay buffers stay bounded: by count per tenant, and idle tenants go."""

import asyncio
import uuid
from collections.abc import AsyncIterator

from common.events import MessageStatusUpdatedPayload, MessageStatusUpdatedV1
from ingest.sse import EventHub

USER = uuid.uuid4()  # whose stream it is (a removed user's streams end)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def status_event(tenant_id: uuid.UUID) -> MessageStatusUpdatedV1:
    return MessageStatusUpdatedV1(
        tenant_id=tenant_id,
        payload=MessageStatusUpdatedPayload(
            message_id=uuid.uuid4(), conversation_id=uuid.uuid4(), status="sent"
        ),
    )


async def next_frames(stream: AsyncIterator[str], count: int) -> list[str]:
    return [await asyncio.wait_for(anext(stream), 2) for _ in range(count)]


async def test_idle_tenants_lose_their_buffer_and_active_ones_keep_it() -> None:
    clock = Clock()
    hub = EventHub(replay=10, client_queue=10, idle_s=600, clock=clock)
    idle = [uuid.uuid4() for _ in range(1000)]
    for tenant in idle:
        await hub.publish(status_event(tenant))
    assert hub.buffered_tenants() == 1000

    clock.now += 300
    recent = uuid.uuid4()
    await hub.publish(status_event(recent))
    assert hub.buffered_tenants() == 1001  # nobody idle for 600 s yet

    clock.now += 301  # the 1000 are 601 s idle, `recent` 301 s
    await hub.publish(status_event(uuid.uuid4()))
    assert hub.buffered_tenants() == 2

    # The evicted tenant's reconnect gets no replay (nothing stale), then what is new.
    stream = hub.stream(idle[0], USER, "some-old-event-id", heartbeat_s=5)
    assert await next_frames(stream, 1) == ["retry: 3000\n: connected\n\n"]
    fresh = status_event(idle[0])
    await hub.publish(fresh)
    [frame] = await next_frames(stream, 1)
    assert frame.startswith(f"id: {fresh.event_id}\n")
    await stream.aclose()
    assert hub.clients(idle[0]) == 0


async def test_a_watched_tenant_keeps_its_buffer_however_quiet() -> None:
    clock = Clock()
    hub = EventHub(replay=10, client_queue=10, idle_s=600, clock=clock)
    watched = uuid.uuid4()
    first, second = status_event(watched), status_event(watched)
    await hub.publish(first)
    await hub.publish(second)
    stream = hub.stream(watched, USER, None, heartbeat_s=5)
    await next_frames(stream, 1)  # connected: a client watches the tenant
    clock.now += 10_000
    await hub.publish(status_event(uuid.uuid4()))  # runs the eviction
    assert hub.buffered_tenants() == 2

    # A second tab reconnecting after `first` still gets `second` replayed.
    again = hub.stream(watched, USER, str(first.event_id), heartbeat_s=5)
    frames = await next_frames(again, 2)
    assert frames[1].startswith(f"id: {second.event_id}\n")
    await stream.aclose()
    await again.aclose()
    assert hub.clients(watched) == 0


async def test_each_tenant_buffer_keeps_only_its_last_events() -> None:
    hub = EventHub(replay=5, client_queue=10, idle_s=600, clock=Clock())
    tenant = uuid.uuid4()
    events = [status_event(tenant) for _ in range(8)]
    for event in events:
        await hub.publish(event)
    # Reconnecting after the 4th: the 5th to 8th are still held and replayed.
    stream = hub.stream(tenant, USER, str(events[3].event_id), heartbeat_s=5)
    frames = await next_frames(stream, 5)
    assert [f.split("\n")[0] for f in frames[1:]] == [f"id: {e.event_id}" for e in events[4:]]
    await stream.aclose()
    # After the 2nd: it fell out of the 5 kept, so there is nothing to match (no replay).
    stream = hub.stream(tenant, USER, str(events[1].event_id), heartbeat_s=0.05)
    assert await next_frames(stream, 2) == ["retry: 3000\n: connected\n\n", ": heartbeat\n\n"]
    await stream.aclose()
