"""ingest's subscriptions: one handler per event, each idempotent in its own transaction;
inbound messages, the hot path, are gathered into small batches of one transaction each."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from common.bus import PermanentError, Subscription
from common.db import Database
from common.events import (
    AutoReplyV1,
    CSATRequestedV1,
    Envelope,
    HandoffRequestedV1,
    MessageMediaPendingV1,
    MessageOutboundQueuedV1,
    ReplyGeneratedV1,
    ReplyPreparingV1,
    UserCreatedV1,
    UserRemovedV1,
    WhatsAppMessageReceivedV1,
    WhatsAppStatusUpdatedV1,
    WhatsAppWebhookUnhandledV1,
)
from common.idempotency import idempotent
from ingest import csat, inbox, repository
from ingest.crypto import TokenCipher
from ingest.delivery import Deliverer
from ingest.graph import GraphClient
from ingest.inbound import store_inbound_batch
from ingest.media import MediaFetcher
from ingest.models import processed_events
from ingest.outbound import (
    PermanentReplyError,
    accept_ai_reply,
    accept_auto_reply,
    request_handoff,
)
from ingest.receipts import ReadReceipts
from ingest.settings import IngestSettings
from ingest.statuses import apply_status
from ingest.templates import apply_status_update

log = structlog.get_logger(__name__)

E = TypeVar("E", bound=Envelope)


class Batcher(Generic[E]):
    """Gathers events the bus delivers concurrently (up to its prefetch) and handles them in
    one transaction: claim all, handle the new ones, commit, then every handler call returns
    and the bus acks. If the batch fails, each event is retried alone, so one bad event only
    fails itself (and goes to the bus's retry tiers).

    No timer: when idle, an event starts its transaction at once (with whatever arrived in the
    same turn of the event loop); while `max_in_flight` transactions run, arrivals wait and
    form the next batch. Batches grow with the load and latency stays low without it."""

    def __init__(
        self,
        db: Database,
        consumer: str,
        handle: Callable[[AsyncSession, list[E]], Awaitable[None]],
        *,
        max_size: int = 200,
        max_in_flight: int = 2,
    ) -> None:
        self.db = db
        self.consumer = consumer
        self.handle = handle
        self.max_size = max_size
        self.max_in_flight = max_in_flight
        self._pending: list[tuple[E, asyncio.Future[None]]] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, event: E) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((event, done))
        if not self._scheduled:
            # Next turn of the loop: the deliveries already read from the socket join in.
            self._scheduled = True
            loop.call_soon(self._flush)
        await done

    def _flush(self) -> None:
        self._scheduled = False
        while self._pending and len(self._tasks) < self.max_in_flight:
            batch, self._pending = self._pending[: self.max_size], self._pending[self.max_size :]
            task = asyncio.create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._pending and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    async def _run(self, batch: list[tuple[E, asyncio.Future[None]]]) -> None:
        try:
            await self._transaction([event for event, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            log.warning("batch.failed_retrying_one_by_one", size=len(batch), error=repr(exc))
            for event, done in batch:
                try:
                    await self._transaction([event])
                except Exception as one:
                    _settle(done, one)
                else:
                    _settle(done, None)
            return
        for _, done in batch:
            _settle(done, None)

    async def _transaction(self, events: list[E]) -> None:
        async with self.db.session() as session:
            unique = list({e.event_id: e for e in events}.values())
            claimed = await repository.claim_events(
                session, self.consumer, [e.event_id for e in unique]
            )
            fresh = [e for e in unique if e.event_id in claimed]
            if len(fresh) < len(unique):
                log.info("event.duplicate_skipped", count=len(unique) - len(fresh))
            if fresh:
                started = time.perf_counter()
                await self.handle(session, fresh)
                log.debug(
                    "batch.handled", size=len(fresh), ms=int((time.perf_counter() - started) * 1000)
                )


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


WHATSAPP_MESSAGES = "ingest.whatsapp-messages"
WHATSAPP_STATUSES = "ingest.whatsapp-statuses"
AI_REPLIES = "ingest.ai-replies"
DELIVERY = "ingest.delivery"
MEDIA = "ingest.media"
TEMPLATE_STATUSES = "ingest.template-statuses"
TEAM = "ingest.team"
CSAT = "ingest.csat"
# The webhook field whose changes (published by the gateway as unhandled) ingest acts on.
TEMPLATE_STATUS_FIELD = "message_template_status_update"


def subscriptions(
    db: Database,
    settings: IngestSettings,
    *,
    graph: GraphClient,
    cipher: TokenCipher,
    deliverer: Deliverer,
    fetcher: MediaFetcher,
    receipts: ReadReceipts,
) -> list[Subscription]:
    """ingest's consumers, given what they work with (built by ingest.main, the composition
    root). The consumer names are the queue names: operations and dead letters know them."""

    def claimed(
        consumer: str, handler: Callable[[AsyncSession, E], Awaitable[None]]
    ) -> Callable[[E], Awaitable[None]]:
        return idempotent(db, processed_events, consumer, handler)

    async def on_messages_received(
        session: AsyncSession, events: list[WhatsAppMessageReceivedV1]
    ) -> None:
        await store_inbound_batch(session, settings, events)

    async def on_status_updated(session: AsyncSession, event: WhatsAppStatusUpdatedV1) -> None:
        await apply_status(session, event.payload)

    async def on_template_status(session: AsyncSession, event: WhatsAppWebhookUnhandledV1) -> None:
        if event.payload.field != TEMPLATE_STATUS_FIELD:
            return  # other unhandled changes (account updates, `value.errors`…): not ours
        await apply_status_update(
            session, graph, cipher, event.payload.waba_id, event.payload.value
        )

    async def on_reply_generated(session: AsyncSession, event: ReplyGeneratedV1) -> None:
        try:
            await accept_ai_reply(session, settings, event)
        except PermanentReplyError as exc:
            raise PermanentError(str(exc)) from exc

    async def on_handoff_requested(session: AsyncSession, event: HandoffRequestedV1) -> None:
        await request_handoff(session, settings, event)

    async def on_auto_reply(session: AsyncSession, event: AutoReplyV1) -> None:
        await accept_auto_reply(session, settings, event)

    # Delivery and media are not wrapped in `idempotent`: their attempts must commit even when
    # the job fails and is retried. They are idempotent by the message's own state instead.
    async def on_outbound_queued(event: MessageOutboundQueuedV1) -> None:
        await deliverer.deliver(event.payload.message_id)

    async def on_media_pending(event: MessageMediaPendingV1) -> None:
        await fetcher.fetch(event.payload.message_id)

    async def on_member_removed(session: AsyncSession, event: UserRemovedV1) -> None:
        await inbox.member_removed(session, event, window_hours=settings.service_window_hours)

    async def on_csat_requested(session: AsyncSession, event: CSATRequestedV1) -> None:
        await csat.send_request(session, settings, event)

    return [
        Subscription.of(
            WHATSAPP_MESSAGES,
            {
                WhatsAppMessageReceivedV1: Batcher(
                    db,
                    WHATSAPP_MESSAGES,
                    on_messages_received,
                    max_size=max(1, settings.bus_prefetch),
                )
            },
        ),
        Subscription.of(
            WHATSAPP_STATUSES,
            {WhatsAppStatusUpdatedV1: claimed(WHATSAPP_STATUSES, on_status_updated)},
        ),
        # The hint shares the replies' queue: it arrives before the reply it announces, and its
        # read receipt is registered as in flight before that reply can reach delivery. It
        # claims itself (at most once) and never raises: a read receipt is not retried.
        Subscription.of(
            AI_REPLIES,
            {
                ReplyPreparingV1: receipts.mark,
                ReplyGeneratedV1: claimed(AI_REPLIES, on_reply_generated),
                HandoffRequestedV1: claimed(AI_REPLIES, on_handoff_requested),
                AutoReplyV1: claimed(AI_REPLIES, on_auto_reply),
            },
        ),
        Subscription.of(
            TEMPLATE_STATUSES,
            {WhatsAppWebhookUnhandledV1: claimed(TEMPLATE_STATUSES, on_template_status)},
        ),
        Subscription.of(DELIVERY, {MessageOutboundQueuedV1: on_outbound_queued}),
        # The team, learned from auth: assignees and round-robin candidates.
        Subscription.of(
            TEAM,
            {
                UserCreatedV1: claimed(TEAM, inbox.member_created),
                UserRemovedV1: claimed(TEAM, on_member_removed),
            },
        ),
        # The responder asks for a rating on a resolution; ingest sends what the window allows.
        Subscription.of(CSAT, {CSATRequestedV1: claimed(CSAT, on_csat_requested)}),
        # Few downloads at a time: the rest wait in the broker, not in this process's memory.
        Subscription.of(
            MEDIA,
            {MessageMediaPendingV1: on_media_pending},
            prefetch=max(1, settings.media_prefetch),
        ),
    ]
