"""Removed users: their tokens are refused by every service within a second, not at expiry.

Each process keeps the set in memory. It is fed live by `user.removed.v1` on a listener of
its own (`Bus.listen`: every replica sees every event) and synced from auth's durable list
(`GET /internal/revocations`: the users removed within the token lifetime) at start, after
each broker reconnect and every `REVOCATION_SYNC_INTERVAL_S`, so a restarted replica, or one
that missed an event while the broker was away, knows too. Until its first sync a process
refuses tokens (503): it cannot tell a removed user from a member.
"""

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterable

import httpx
import structlog

from common.auth import INTERNAL_TOKEN_HEADER
from common.events import Envelope, UserRemovedV1

log = structlog.get_logger(__name__)

REVOCATION_EVENTS = ("user.removed.v1",)

Source = Callable[[], Awaitable[Iterable[uuid.UUID]]]


class Revocations:
    """The users whose tokens this process refuses, and the streams to end when one is added."""

    def __init__(
        self,
        *,
        url: str | None = None,
        internal_token: str = "",
        source: Source | None = None,
        sync_interval_s: float = 30.0,
        retry_interval_s: float = 1.0,
        http_timeout_s: float = 3.0,
    ) -> None:
        self.url = url
        self.internal_token = internal_token
        # Where the durable list comes from when not over HTTP (auth reads its own table).
        self.source = source
        self.sync_interval_s = sync_interval_s
        self.retry_interval_s = retry_interval_s
        self.http_timeout_s = http_timeout_s
        self._users: set[uuid.UUID] = set()
        self._on_revoke: list[Callable[[uuid.UUID], None]] = []
        # Nothing to sync from (inline JWKS, tests): the live events are all there is.
        self.synced = url is None and source is None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def is_revoked(self, user_id: uuid.UUID) -> bool:
        return user_id in self._users

    def on_revoke(self, callback: Callable[[uuid.UUID], None]) -> None:
        """Call `callback(user_id)` when a user is revoked (e.g. to end their live streams)."""
        self._on_revoke.append(callback)

    def revoke(self, user_id: uuid.UUID) -> None:
        if user_id in self._users:
            return  # redelivered or also synced: nothing twice
        self._users.add(user_id)
        log.info("auth.user_revoked", user_id=str(user_id))
        for callback in self._on_revoke:
            callback(user_id)

    async def handle(self, event: Envelope) -> None:
        """The bus listener's handler."""
        if isinstance(event, UserRemovedV1):
            self.revoke(event.payload.user_id)

    async def _fetch(self) -> Iterable[uuid.UUID]:
        if self.source is not None:
            return await self.source()
        assert self.url is not None
        async with httpx.AsyncClient(timeout=self.http_timeout_s) as client:
            response = await client.get(
                self.url, headers={INTERNAL_TOKEN_HEADER: self.internal_token}
            )
            response.raise_for_status()
            return [uuid.UUID(item["user_id"]) for item in response.json()["items"]]

    async def sync(self) -> bool:
        """Add every user auth lists as removed; False when auth could not be asked."""
        if self.url is None and self.source is None:
            return True
        try:
            users = await self._fetch()
        except Exception as exc:
            log.warning("auth.revocations_sync_failed", url=self.url, error=repr(exc))
            return False
        for user_id in users:
            self.revoke(user_id)
        self.synced = True
        return True

    def wake(self) -> None:
        """Sync now (the broker is back: events may have been missed meanwhile)."""
        self._wake.set()

    async def start(self) -> None:
        """One sync now (start-up waits for it), then keep syncing in the background."""
        if self.url is None and self.source is None:
            return
        await self.sync()
        self._task = asyncio.create_task(self._sync_forever(), name="revocations-sync")

    async def _sync_forever(self) -> None:
        while True:
            interval = self.sync_interval_s if self.synced else self.retry_interval_s
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout: on 3.11 wait_for can swallow a stop's cancellation.
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            self._wake.clear()
            await self.sync()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def health(self) -> dict[str, str]:
        return {"revocations": "ok" if self.synced else "down"}
