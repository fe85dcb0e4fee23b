"""Parser slots shared fairly between businesses.

A plain semaphore hands free parsers to waiting documents in arrival order: a business that
uploads 500 files has everyone else's uploads wait behind all of them. Here a free slot
goes to the business with the fewest documents being parsed, ties broken by who was served
longest ago (round robin), and a business may have only so many documents waiting.
"""

import asyncio
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class TenantQueueFull(Exception):
    """The business already has its share of documents waiting: try this one later."""


class FairSlots:
    def __init__(self, slots: int, max_waiting_per_tenant: int) -> None:
        self._free = slots
        self.max_waiting_per_tenant = max_waiting_per_tenant
        self._waiting: dict[uuid.UUID, deque[asyncio.Future[None]]] = {}
        self._running: Counter[uuid.UUID] = Counter()
        self._served_at: dict[uuid.UUID, int] = {}
        self._ticks = 0

    def waiting(self, tenant_id: uuid.UUID) -> int:
        return len(self._waiting.get(tenant_id, ()))

    @asynccontextmanager
    async def slot(self, tenant_id: uuid.UUID) -> AsyncIterator[None]:
        """Hold a slot for one of the tenant's documents; TenantQueueFull at once if the
        tenant already has `max_waiting_per_tenant` documents waiting for one."""
        if self._free > 0 and not self._waiting:
            self._free -= 1
            self._granted(tenant_id)
        else:
            await self._wait(tenant_id)
        try:
            yield
        finally:
            self._release(tenant_id)

    async def _wait(self, tenant_id: uuid.UUID) -> None:
        queue = self._waiting.setdefault(tenant_id, deque())
        if len(queue) >= self.max_waiting_per_tenant:
            if not queue:
                del self._waiting[tenant_id]
            raise TenantQueueFull(f"{len(queue)} documents of this business wait already")
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # granted as we were cancelled: give back
                self._release(tenant_id)
            elif turn in queue:
                queue.remove(turn)
                if not queue:
                    self._waiting.pop(tenant_id, None)
            raise

    def _release(self, tenant_id: uuid.UUID) -> None:
        self._running[tenant_id] -= 1
        if self._running[tenant_id] <= 0:
            del self._running[tenant_id]
        self._free += 1
        self._hand_on()

    def _granted(self, tenant_id: uuid.UUID) -> None:
        self._running[tenant_id] += 1
        self._ticks += 1
        self._served_at[tenant_id] = self._ticks
        if len(self._served_at) > 10_000:  # forget businesses long idle
            self._served_at = {t: n for t, n in self._served_at.items() if t in self._waiting}

    def _hand_on(self) -> None:
        while self._free > 0 and self._waiting:
            tenant_id = min(
                self._waiting,
                key=lambda t: (self._running[t], self._served_at.get(t, 0)),
            )
            queue = self._waiting[tenant_id]
            turn = queue.popleft()
            if not queue:
                del self._waiting[tenant_id]
            if turn.done():  # its waiter was cancelled (it has not yet run to notice)
                continue
            self._free -= 1
            self._granted(tenant_id)
            turn.set_result(None)
