"""The live stream: the tenant's events, fed from the broker, fanned out to SSE clients.

Each replica listens on its own transient queue (`Bus.listen`), so every replica sees every
event and any replica can serve any dashboard. A short per-tenant memory of recent events
lets a client that reconnects with `Last-Event-ID` catch up. A removed user's open streams
end as soon as the revocation reaches this replica.
"""

import asyncio
import json
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from common.events import (
    ConversationMessageStoredV1,
    ConversationNoteCreatedV1,
    ConversationUpdatedV1,
    Envelope,
    MessageStatusUpdatedV1,
)
from common.revocation import Revocations

log = structlog.get_logger(__name__)

# What the dashboard's stream shows; `to_stream_item` turns each into its SSE item.
STREAMED_EVENTS = tuple(
    model.EVENT_TYPE
    for model in (
        ConversationMessageStoredV1,
        MessageStatusUpdatedV1,
        ConversationUpdatedV1,
        ConversationNoteCreatedV1,
    )
)


@dataclass(frozen=True)
class StreamItem:
    id: str
    name: str
    data: dict[str, Any]

    def encode(self) -> str:
        return f"id: {self.id}\nevent: {self.name}\ndata: {json.dumps(self.data)}\n\n"


def to_stream_item(event: Envelope) -> StreamItem | None:
    if isinstance(event, ConversationMessageStoredV1):
        data = event.payload.message.model_dump(mode="json")
        return StreamItem(str(event.event_id), "message.created", data)
    if isinstance(event, ConversationNoteCreatedV1):
        # A note is a thread item like a message (the API's shape), for the team only.
        p = event.payload
        note: dict[str, Any] = {
            "id": str(p.id),
            "conversation_id": str(p.conversation_id),
            "wamid": None,
            "direction": "internal",
            "author": "agent",
            "author_id": str(p.author_id),
            "type": "note",
            "text": p.text,
            "media": None,
            "context": None,
            "reaction": None,
            "sources": [],
            "status": "stored",
            "error": None,
            "created_at": p.created_at.isoformat(),
        }
        return StreamItem(str(event.event_id), "message.created", note)
    if isinstance(event, MessageStatusUpdatedV1):
        update = event.payload
        data = {
            "id": str(update.message_id),
            "conversation_id": str(update.conversation_id),
            "wamid": update.wamid,
            "status": update.status,
            "error": update.error,
        }
        return StreamItem(str(event.event_id), "message.updated", data)
    if isinstance(event, ConversationUpdatedV1):
        return StreamItem(
            str(event.event_id), "conversation.updated", event.payload.model_dump(mode="json")
        )
    return None


class EventHub:
    """Fan-out plus the replay buffers. Memory is bounded: each tenant's buffer keeps its
    last `replay` events; a tenant with no event for `idle_s` and no client connected loses
    its buffer (a reconnect after that long finds nothing newer to replay anyway). Eviction
    runs as events arrive, the only time the buffers grow."""

    def __init__(
        self,
        *,
        replay: int,
        client_queue: int,
        idle_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        revocations: Revocations | None = None,
    ) -> None:
        self.replay = replay
        self.client_queue = client_queue
        self.idle_s = idle_s
        self._clock = clock
        self._clients: dict[uuid.UUID, set[asyncio.Queue[StreamItem | None]]] = {}
        # Least recently active tenant first: eviction looks at the front only.
        self._recent: OrderedDict[uuid.UUID, deque[StreamItem]] = OrderedDict()
        self._active_at: dict[uuid.UUID, float] = {}
        # Whose stream each queue is: a removed user's open streams end at once.
        self._users: dict[asyncio.Queue[StreamItem | None], tuple[uuid.UUID, uuid.UUID]] = {}
        self.revocations = revocations
        if revocations is not None:
            revocations.on_revoke(self.end_streams_of)

    def end_streams_of(self, user_id: uuid.UUID) -> None:
        for queue, (tenant_id, owner) in list(self._users.items()):
            if owner == user_id:
                self._drop(tenant_id, queue)

    async def publish(self, event: Envelope) -> None:
        item = to_stream_item(event)
        if item is None or event.tenant_id is None:
            return
        now = self._clock()
        self._evict_idle(now)
        recent = self._recent.get(event.tenant_id)
        if recent is None:
            recent = self._recent[event.tenant_id] = deque(maxlen=self.replay)
        self._recent.move_to_end(event.tenant_id)
        self._active_at[event.tenant_id] = now
        recent.append(item)
        for queue in list(self._clients.get(event.tenant_id, ())):
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:
                # A client that cannot keep up is cut; it reconnects with Last-Event-ID.
                self._drop(event.tenant_id, queue)

    def _evict_idle(self, now: float) -> None:
        for tenant_id in list(self._recent):
            if now - self._active_at[tenant_id] < self.idle_s:
                return  # the rest were active more recently
            if tenant_id in self._clients:
                # Watched: keep it, as if active now (its clients may reconnect).
                self._recent.move_to_end(tenant_id)
                self._active_at[tenant_id] = now
                continue
            del self._recent[tenant_id], self._active_at[tenant_id]

    def buffered_tenants(self) -> int:
        return len(self._recent)

    def _drop(self, tenant_id: uuid.UUID, queue: asyncio.Queue[StreamItem | None]) -> None:
        self._forget(tenant_id, queue)
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)

    def clients(self, tenant_id: uuid.UUID) -> int:
        return len(self._clients.get(tenant_id, ()))

    async def stream(
        self,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID,
        last_event_id: str | None,
        heartbeat_s: float,
    ) -> AsyncIterator[str]:
        queue: asyncio.Queue[StreamItem | None] = asyncio.Queue(self.client_queue)
        # Revoked between the request's check and now: no stream.
        if self.revocations is not None and self.revocations.is_revoked(user_id):
            return
        self._clients.setdefault(tenant_id, set()).add(queue)
        self._users[queue] = (tenant_id, user_id)
        # Taken with the registration, before any await: no event is missed or sent twice.
        backlog: list[StreamItem] = []
        if last_event_id:
            recent = list(self._recent.get(tenant_id, ()))
            ids = [item.id for item in recent]
            if last_event_id in ids:
                backlog = recent[ids.index(last_event_id) + 1 :]
        try:
            yield "retry: 3000\n: connected\n\n"
            for missed in backlog:
                yield missed.encode()
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=heartbeat_s)
                except TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                if item is None:
                    return
                yield item.encode()
        finally:
            self._forget(tenant_id, queue)
            self._users.pop(queue, None)

    def _forget(self, tenant_id: uuid.UUID, queue: asyncio.Queue[StreamItem | None]) -> None:
        clients = self._clients.get(tenant_id)
        if clients is not None:
            clients.discard(queue)
            if not clients:  # no empty set per tenant that ever connected
                del self._clients[tenant_id]
