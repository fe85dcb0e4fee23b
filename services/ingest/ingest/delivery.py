"""Outbound delivery, read receipts and inbound media fetch through the Graph API.

Each job reloads its message by id and skips what is already done; a lease on the row keeps
a redelivered job from sending the same message twice; one attempt row is committed per call
before a retry is raised (the bus's delay tiers space the attempts). Retryable Meta codes are
retried, the others marked failed with Meta's reason (WHATSAPP.md §5).
"""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import structlog
from prometheus_client import Counter
from sqlalchemy import func, or_, select, update

from common.db import Database
from common.events import MessageStatusUpdatedPayload, MessageStatusUpdatedV1, ReplyPreparingV1
from common.idempotency import claim
from common.outbox import add_event
from ingest.crypto import TokenCipher
from ingest.graph import GraphClient, GraphError, RateLimiter
from ingest.models import (
    Channel,
    Contact,
    Conversation,
    DeliveryAttempt,
    MediaFetchAttempt,
    MediaFile,
    Message,
    outbox,
    processed_events,
)
from ingest.service import STATUS_RANK, apply_pending_statuses
from ingest.settings import IngestSettings

log = structlog.get_logger(__name__)

DELIVERIES = Counter("ingest_deliveries_total", "Outbound delivery attempts", ["outcome"])
MEDIA_FETCHES = Counter("ingest_media_fetches_total", "Inbound media fetches", ["outcome"])
READ_RECEIPTS = Counter(
    "ingest_read_receipts_total", "Read receipts with the typing indicator", ["outcome"]
)

# The claim's consumer name (the hint travels on ingest.ai-replies' queue).
READ_RECEIPTS_CONSUMER = "ingest.read-receipts"
# WhatsApp drops the typing indicator after 25 s: an older hint is no longer worth showing.
TYPING_LIFETIME = timedelta(seconds=25)


class ReadReceipts:
    """While the AI prepares an answer, mark the customer's message read with the typing
    indicator. A courtesy, never a duty: one try, a short timeout, failures logged. Delivery
    waits (briefly) for a read receipt in flight in its conversation, so the indicator never
    arrives after the answer it announces."""

    def __init__(
        self, db: Database, settings: IngestSettings, graph: GraphClient, cipher: TokenCipher
    ) -> None:
        self.db = db
        self.graph = graph
        self.cipher = cipher
        self.timeout_s = settings.read_receipt_timeout_s
        self._in_flight: dict[uuid.UUID, asyncio.Event] = {}

    async def mark(self, event: ReplyPreparingV1) -> None:
        p = event.payload
        done = asyncio.Event()
        self._in_flight[p.conversation_id] = done
        try:
            outcome = await self._mark(event)
        except Exception as exc:  # a courtesy: never retried, never in the reply's way
            outcome = "failed"
            log.warning("read_receipt.failed", error=repr(exc))
        finally:
            done.set()
            if self._in_flight.get(p.conversation_id) is done:
                del self._in_flight[p.conversation_id]
        READ_RECEIPTS.labels(outcome).inc()
        log.info("read_receipt", outcome=outcome, message_id=str(p.message_id))

    async def wait(self, conversation_id: uuid.UUID) -> None:
        """Until the read receipt in flight for this conversation (in this process) is done."""
        done = self._in_flight.get(conversation_id)
        if done is not None:
            try:
                await asyncio.wait_for(done.wait(), timeout=self.timeout_s)
            except TimeoutError:
                log.warning("read_receipt.wait_timed_out", conversation_id=str(conversation_id))

    async def _mark(self, event: ReplyPreparingV1) -> str:
        p = event.payload
        if event.tenant_id is None or not p.wamid:
            return "skipped"
        if datetime.now(UTC) - event.occurred_at > TYPING_LIFETIME:
            return "stale"
        async with self.db.session() as session:
            # At most once: a redelivered hint is not shown again.
            if not await claim(session, processed_events, READ_RECEIPTS_CONSUMER, event.event_id):
                return "duplicate"
            row = (
                await session.execute(
                    select(Channel.phone_number_id, Channel.access_token_encrypted)
                    .join(Message, Message.channel_id == Channel.id)
                    .where(
                        Message.tenant_id == event.tenant_id,
                        Message.id == p.message_id,
                        Channel.deleted_at.is_(None),
                    )
                )
            ).first()
            if row is None:
                return "unknown_message"
            if row.access_token_encrypted is None:
                return "sandbox"  # nothing to tell Meta: the simulator plays the customer
            replied = await session.scalar(
                select(Message.id)
                .where(
                    Message.tenant_id == event.tenant_id,
                    Message.conversation_id == p.conversation_id,
                    Message.direction == "outbound",
                    Message.wamid.is_not(None),
                    Message.created_at >= event.occurred_at,
                )
                .limit(1)
            )
        # Answered already (a late hint): read, but no typing indicator to outlive the answer.
        typing = replied is None
        await self.graph.mark_read(
            phone_number_id=row.phone_number_id,
            token=self.cipher.decrypt(row.access_token_encrypted),
            wamid=p.wamid,
            typing=typing,
            timeout_s=self.timeout_s,
        )
        return "sent" if typing else "read_only"


class RetryLater(Exception):
    """A retryable failure, recorded: the bus re-delivers the job after its next delay tier."""


class Deliverer:
    def __init__(
        self,
        db: Database,
        settings: IngestSettings,
        graph: GraphClient,
        cipher: TokenCipher,
        limiter: RateLimiter,
        receipts: ReadReceipts | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.graph = graph
        self.cipher = cipher
        self.limiter = limiter
        self.receipts = receipts
        # The bus gives up after its last tier: never plan more attempts than it can make.
        self.max_attempts = max(
            1, min(settings.delivery_max_attempts, len(settings.bus_retry_delays_ms) + 1)
        )
        self.lease = timedelta(seconds=settings.graph_timeout_s * 2 + 5)

    async def deliver(self, message_id: uuid.UUID) -> None:
        claimed = await self._claim(message_id)
        if claimed is None:
            return
        message, channel, to = claimed
        started = time.perf_counter()
        wamid: str | None = None
        error: GraphError | None = None
        if channel.access_token_encrypted is None:
            wamid = f"wamid.SANDBOX.{uuid.uuid4().hex}"  # recorded, not sent
        else:
            if self.receipts is not None:
                await self.receipts.wait(message.conversation_id)
            await self.limiter.wait(channel.phone_number_id)
            try:
                wamid = await self.graph.send_text(
                    phone_number_id=channel.phone_number_id,
                    token=self.cipher.decrypt(channel.access_token_encrypted),
                    to=to,
                    text=message.text or "",
                    reply_to=(message.context or {}).get("id"),
                )
            except GraphError as exc:
                error = exc
        duration_ms = int((time.perf_counter() - started) * 1000)
        retry = await self._record(message, channel, wamid, error, duration_ms)
        if retry:
            raise RetryLater(str(error))

    async def _claim(self, message_id: uuid.UUID) -> tuple[Message, Channel, str] | None:
        """Take the lease on a queued message without a wamid; None when done or in flight."""
        async with self.db.session() as session:
            now = func.now()
            claimed = await session.scalar(
                update(Message)
                .where(
                    Message.id == message_id,
                    Message.direction == "outbound",
                    Message.status == "queued",
                    Message.wamid.is_(None),
                    or_(Message.sending_until.is_(None), Message.sending_until < now),
                )
                .values(sending_until=now + self.lease)
                .returning(Message.id)
            )
            if claimed is None:
                log.info("delivery.skipped", message_id=str(message_id))
                return None
            message = await session.get(Message, message_id, populate_existing=True)
            assert message is not None
            channel = await session.get(Channel, message.channel_id)
            to = await session.scalar(
                select(Contact.wa_id)
                .join(Conversation, Conversation.contact_id == Contact.id)
                .where(Conversation.id == message.conversation_id)
            )
            assert channel is not None and to is not None
            return message, channel, to

    async def _record(
        self,
        message: Message,
        channel: Channel,
        wamid: str | None,
        error: GraphError | None,
        duration_ms: int,
    ) -> bool:
        """Commit the attempt and its effect; True when another attempt should follow."""
        async with self.db.session() as session:
            attempt = 1 + int(
                await session.scalar(
                    select(func.count()).where(DeliveryAttempt.message_id == message.id)
                )
                or 0
            )
            if error is None:
                outcome = "sandbox" if channel.access_token_encrypted is None else "sent"
            elif error.retryable and attempt < self.max_attempts:
                outcome = "retry"
            else:
                outcome = "failed"
            session.add(
                DeliveryAttempt(
                    tenant_id=message.tenant_id,
                    message_id=message.id,
                    attempt=attempt,
                    outcome=outcome,
                    http_status=error.http_status if error else 200,
                    error_code=error.code if error else None,
                    error=str(error) if error else None,
                    duration_ms=duration_ms,
                )
            )
            values: dict[str, object] = {"sending_until": None}
            status: str | None = None
            if wamid is not None:
                status = "sent"
                values |= {"wamid": wamid, "status": status, "status_rank": STATUS_RANK[status]}
            elif outcome == "failed":
                status = "failed"
                reason = str(error)
                if error is not None and error.retryable:
                    reason = f"gave up after {attempt} attempts: {reason}"
                values |= {
                    "status": status,
                    "status_rank": STATUS_RANK[status],
                    "error": reason[:1000],
                    "error_code": error.code if error else None,
                }
            await session.execute(
                update(Message)
                .where(Message.id == message.id, Message.status_rank < STATUS_RANK["sent"])
                .values(**values)
            )
            if error is not None and error.needs_reauth:
                await session.execute(
                    update(Channel).where(Channel.id == channel.id).values(needs_reauth=True)
                )
                log.warning("channel.needs_reauth", channel_id=str(channel.id))
            if status is not None:
                await add_event(
                    session,
                    outbox,
                    MessageStatusUpdatedV1(
                        tenant_id=message.tenant_id,
                        payload=MessageStatusUpdatedPayload(
                            message_id=message.id,
                            conversation_id=message.conversation_id,
                            wamid=wamid,
                            status=status,
                            error=values.get("error"),
                            error_code=values.get("error_code"),
                        ),
                    ),
                )
            if wamid is not None:
                await apply_pending_statuses(session, message.tenant_id, wamid)
        DELIVERIES.labels(outcome).inc()
        log.info(
            "delivery.attempt",
            message_id=str(message.id),
            attempt=attempt,
            outcome=outcome,
            error_code=error.code if error else None,
        )
        return outcome == "retry"


class MediaFetcher:
    def __init__(
        self, db: Database, settings: IngestSettings, graph: GraphClient, cipher: TokenCipher
    ) -> None:
        self.db = db
        self.settings = settings
        self.graph = graph
        self.cipher = cipher

    async def fetch(self, message_id: uuid.UUID) -> None:
        async with self.db.sessionmaker() as session:
            message = await session.get(Message, message_id)
            if message is None or not message.media or message.media.get("status") != "pending":
                return
            channel = await session.get(Channel, message.channel_id)
            assert channel is not None
            attempts = int(
                await session.scalar(
                    select(func.count()).where(MediaFetchAttempt.message_id == message_id)
                )
                or 0
            )
        media = dict(message.media)
        if channel.access_token_encrypted is None:
            await self._finish(
                message, media, None, None, "sandbox channel: no token to fetch media"
            )
            return
        try:
            content, mime = await self.graph.fetch_media(
                media_id=str(media.get("id")),
                phone_number_id=channel.phone_number_id,
                token=self.cipher.decrypt(channel.access_token_encrypted),
                max_bytes=self.settings.media_max_bytes,
            )
        except GraphError as exc:
            last = attempts + 1 >= self.settings.media_max_attempts
            if exc.retryable and not last:
                async with self.db.session() as session:
                    session.add(MediaFetchAttempt(message_id=message_id, error=str(exc)))
                MEDIA_FETCHES.labels("retry").inc()
                raise RetryLater(str(exc)) from exc
            await self._finish(message, media, None, None, str(exc))
            return
        await self._finish(message, media, content, mime, None)

    async def _finish(
        self,
        message: Message,
        media: dict[str, object],
        content: bytes | None,
        mime: str | None,
        error: str | None,
    ) -> None:
        async with self.db.session() as session:
            session.add(MediaFetchAttempt(message_id=message.id, error=error))
            if content is not None:
                session.add(
                    MediaFile(
                        message_id=message.id,
                        tenant_id=message.tenant_id,
                        mime_type=mime,
                        size_bytes=len(content),
                        content=content,
                    )
                )
                media |= {
                    "status": "stored",
                    "size_bytes": len(content),
                    "url": f"/api/messages/{message.id}/media",
                }
            else:
                media |= {"status": "failed", "error": error}
            await session.execute(
                update(Message).where(Message.id == message.id).values(media=media)
            )
            await add_event(
                session,
                outbox,
                MessageStatusUpdatedV1(
                    tenant_id=message.tenant_id,
                    payload=MessageStatusUpdatedPayload(
                        message_id=message.id,
                        conversation_id=message.conversation_id,
                        wamid=message.wamid,
                        status=message.status,
                        error=error,
                    ),
                ),
            )
        MEDIA_FETCHES.labels("stored" if content is not None else "failed").inc()
        log.info("media.fetched" if error is None else "media.failed", message_id=str(message.id))
