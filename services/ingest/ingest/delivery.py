"""Outbound delivery through the Graph API.

Each delivery job reloads its message by id and skips what is already done; a lease on the
row keeps a redelivered job from sending the same message twice; an attempt row is committed
as `sending` before each call and given its outcome after. Retryable Meta codes are retried
(backoff, at least Meta's Retry-After), the others marked failed with Meta's reason
(docs/whatsapp.md, "Sending"). The guarantees are spelled out in `Deliverer` and
services/ingest/README.md.
"""

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from common.bus import RetryAfter
from common.db import Database
from ingest import repository
from ingest.crypto import TokenCipher
from ingest.graph import GraphClient, GraphError, RateLimiter
from ingest.models import (
    Channel,
    Message,
)
from ingest.receipts import ReadReceipts
from ingest.settings import IngestSettings
from ingest.statuses import STATUS_RANK, apply_pending_statuses
from ingest.summaries import emit_status_updated

log = structlog.get_logger(__name__)

DELIVERIES = Counter("ingest_deliveries_total", "Outbound delivery attempts", ["outcome"])


# Meta's pair rate limit is per recipient: its Retry-After does not pause the whole number.
PAIR_RATE_CODE = 131056
NOT_RESENT = "not sent again, to avoid a duplicate"


@dataclass
class _Claim:
    message: Message
    channel: Channel
    to: str
    attempt: int  # this attempt's number
    # A previous call committed as `sending` whose outcome nobody recorded (a crash).
    unresolved: int | None
    # The `sending` attempt committed with the lease (nothing to wait for): call at once.
    token: str | None = None


@dataclass
class _Result:
    outcome: str  # sent | sandbox | retry | failed | unknown
    wamid: str | None = None
    error: str | None = None  # the attempt's error, as the Graph API (or we) said it
    reason: str | None = None  # what the message shows when it fails
    error_code: int | None = None
    http_status: int | None = None
    retry_in_s: float = 0.0
    needs_reauth: bool = False
    duration_ms: int | None = None


class Deliverer:
    """Sends each queued outbound message at most once, in its conversation's order.

    A job takes a lease on its message, commits a `sending` attempt, calls the Graph API and
    records the outcome, so every lease ends as sent (the wamid recorded, retried until the
    database takes it), retry (lease released, the next attempt's time set, the job deferred)
    or failed with a reason. A job that cannot go yet (the lease held elsewhere, its next
    attempt not due, an earlier message of the conversation unsent) defers itself on the bus
    (`RetryAfter`) instead of being dropped. A `sending` attempt found after its lease ran out
    may have reached Meta, which has no idempotency key: the message is failed as "outcome
    unknown", never resent; if Meta had accepted it, its status webhook (which echoes our
    message id as `biz_opaque_callback_data`) repairs the message (`service.apply_status`).
    """

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
        # Backoff follows the bus's delay tiers, one attempt per tier, then failed.
        self.backoff_s = [d / 1000 for d in settings.bus_retry_delays_ms] or [1.0]
        self.max_attempts = max(
            1, min(settings.delivery_max_attempts, len(settings.bus_retry_delays_ms) + 1)
        )
        # How often a waiting job looks again (a lease is usually released within a call).
        self.poll_s = self.backoff_s[0]
        self.lease = timedelta(seconds=settings.graph_timeout_s * 2 + 5)
        self.order_wait = timedelta(seconds=settings.delivery_order_wait_s)

    async def deliver(self, message_id: uuid.UUID) -> None:
        """Deliver the message; then the next ones of its conversation that waited for it
        (their own jobs would only see it at their next look)."""
        successor = await self._deliver_one(message_id)
        while successor is not None:
            try:
                successor = await self._deliver_one(successor)
            except Exception as exc:  # RetryAfter included: its own job carries it on
                log.info("delivery.next_in_line_left", message_id=str(successor), why=str(exc))
                return

    async def _deliver_one(self, message_id: uuid.UUID) -> uuid.UUID | None:
        """Once the message is settled (sent or failed): the next one of its conversation
        waiting behind it, found in the transaction that recorded the outcome (None when no
        message waits, or there was nothing to do). Raises RetryAfter when it is to be tried
        again later."""
        claim = await self._claim(message_id)
        if claim is None:
            return None
        if claim.unresolved is not None:
            reason = (
                f"outcome unknown: attempt {claim.unresolved} called the Graph API and its "
                f"result was never recorded (the worker stopped); {NOT_RESENT}"
            )
            return await self._record_durably(
                claim, claim.unresolved, _Result("unknown", error=reason, reason=reason)
            )
        channel = claim.channel
        if channel.access_token_encrypted is None:
            recorded = f"wamid.SANDBOX.{uuid.uuid4().hex}"  # recorded, not sent
            return await self._record_durably(
                claim, claim.attempt, _Result("sandbox", wamid=recorded, http_status=200)
            )
        token = claim.token
        if token is None:
            try:
                token = self.cipher.decrypt(channel.access_token_encrypted)
            except ValueError as exc:  # the key rotated without re-encrypting: no retry helps
                return await self._record_durably(
                    claim, claim.attempt, _Result("failed", error=str(exc), reason=str(exc))
                )
            try:
                await self._before_call(claim)
            except RetryAfter:
                raise
            except Exception as exc:  # Graph not called yet: releasing and retrying is safe
                log.warning("delivery.before_call_failed", error=repr(exc))
                result = self._retry_or_fail(claim, f"before calling the Graph API: {exc!r}")
                successor = await self._record_durably(claim, claim.attempt, result)
                if result.outcome == "retry":
                    raise RetryAfter(result.retry_in_s, result.error or "") from exc
                return successor
        started = time.perf_counter()
        wamid: str | None = None
        error: GraphError | None = None
        try:
            wamid = await self._send(claim, token)
        except GraphError as exc:
            error = exc
        # Any other exception (a bug, a cancellation) leaves the `sending` attempt: the next
        # job resolves it as unknown after the lease.
        duration_ms = int((time.perf_counter() - started) * 1000)
        result = self._result(claim, wamid, error, duration_ms)
        if error is not None and error.retry_after_s and error.code != PAIR_RATE_CODE:
            # Meta asked this number to wait: the other messages of this process wait too.
            self.limiter.pause(channel.phone_number_id, error.retry_after_s)
        successor = await self._record_durably(claim, claim.attempt, result)
        if result.outcome == "retry":
            raise RetryAfter(result.retry_in_s, result.error or "")
        return successor

    async def _send(self, claim: _Claim, token: str) -> str:
        """One Graph call: a template message as its stored components, an interactive one as
        its stored object, else free text."""
        message, channel = claim.message, claim.channel
        if message.type == "template" and message.template:
            return await self.graph.send_template(
                phone_number_id=channel.phone_number_id,
                token=token,
                to=claim.to,
                name=str(message.template["name"]),
                language=str(message.template["language"]),
                components=list(message.template.get("components") or []),
                callback_data=str(message.id),
            )
        if message.type == "interactive" and message.interactive:
            return await self.graph.send_interactive(
                phone_number_id=channel.phone_number_id,
                token=token,
                to=claim.to,
                interactive=message.interactive,
                callback_data=str(message.id),
            )
        return await self.graph.send_text(
            phone_number_id=channel.phone_number_id,
            token=token,
            to=claim.to,
            text=message.text or "",
            reply_to=(message.context or {}).get("id"),
            callback_data=str(message.id),
        )

    async def _before_call(self, claim: _Claim) -> None:
        """Wait for this number's turn, then commit the `sending` attempt (lease renewed)."""
        channel = claim.channel
        paused = self.limiter.paused_for(channel.phone_number_id)
        if paused > 0:
            await self._release(claim.message.id)
            raise RetryAfter(paused, "the number is paused by Meta's Retry-After")
        if self.receipts is not None:
            await self.receipts.wait(claim.message.conversation_id)
        await self.limiter.wait(channel.phone_number_id)
        async with self.db.session() as session:
            await repository.start_attempt(session, claim.message, claim.attempt, lease=self.lease)

    def _result(
        self, claim: _Claim, wamid: str | None, error: GraphError | None, duration_ms: int
    ) -> _Result:
        if error is None:
            return _Result("sent", wamid=wamid, http_status=200, duration_ms=duration_ms)
        fields: dict[str, Any] = {
            "error": str(error),
            "error_code": error.code,
            "http_status": error.http_status,
            "needs_reauth": error.needs_reauth,
            "duration_ms": duration_ms,
        }
        if error.maybe_sent:
            return _Result("unknown", reason=f"outcome unknown: {error}; {NOT_RESENT}", **fields)
        if not error.retryable:
            return _Result("failed", reason=str(error), **fields)
        result = self._retry_or_fail(claim, str(error), error.retry_after_s)
        result.error_code, result.http_status = error.code, error.http_status
        result.duration_ms = duration_ms
        return result

    def _retry_or_fail(
        self, claim: _Claim, error: str, retry_after_s: float | None = None
    ) -> _Result:
        if claim.attempt < self.max_attempts:
            backoff = self.backoff_s[min(claim.attempt, len(self.backoff_s)) - 1]
            # At least Meta's Retry-After, never sooner than the backoff.
            delay = max(backoff, retry_after_s or 0.0)
            return _Result("retry", error=error, retry_in_s=delay)
        return _Result(
            "failed", error=error, reason=f"gave up after {claim.attempt} attempts: {error}"
        )

    async def _claim(self, message_id: uuid.UUID) -> _Claim | None:
        """Take the lease on a queued message that is due and first in its conversation's
        line; None when it is done. Raises RetryAfter when it must wait."""
        async with self.db.session() as session:
            message = await repository.lease_message(
                session, message_id, lease=self.lease, order_wait=self.order_wait
            )
            if message is None:
                wait = await self._why_wait(session, message_id)
                if wait is None:
                    log.info("delivery.skipped", message_id=str(message_id))
                    return None
                raise RetryAfter(*wait)
            # Its channel, its customer's number and its last attempt: one query.
            channel, to, attempt, outcome = await repository.delivery_context(session, message)
            unresolved = attempt if attempt is not None and outcome == "sending" else None
            claim = _Claim(message, channel, to, (attempt or 0) + 1, unresolved)
            if unresolved is None:
                claim.token = self._start_now(session, claim)
            return claim

    def _start_now(self, session: AsyncSession, claim: _Claim) -> str | None:
        """The usual case in the lease's own transaction: when nothing makes this call wait
        (no pause, no read receipt in flight, this number's send slot free now), its `sending`
        attempt commits with the lease, so the call follows the commit as it would follow
        `_before_call`'s. Returns the token to call with; None leaves it to `_before_call`."""
        channel = claim.channel
        if channel.access_token_encrypted is None:
            return None  # the sandbox: recorded, never called
        if self.receipts is not None and self.receipts.in_flight(claim.message.conversation_id):
            return None
        try:
            token = self.cipher.decrypt(channel.access_token_encrypted)
        except ValueError:
            return None  # failed on the way it always was
        # Last: the slot it takes is this call's.
        if not self.limiter.take_now(channel.phone_number_id):
            return None
        repository.add_sending_attempt(session, claim.message, claim.attempt)
        return token

    async def _why_wait(
        self, session: AsyncSession, message_id: uuid.UUID
    ) -> tuple[float, str] | None:
        """How long a message that could not be claimed waits; None when it is done."""
        row = await repository.delivery_state(session, message_id)
        if row is None or row.direction != "outbound" or row.status != "queued" or row.wamid:
            return None
        if row.sending_until is not None and row.sending_until >= row.now:
            left = (row.sending_until - row.now).total_seconds()
            return min(left, self.poll_s), "the message is being sent elsewhere (lease held)"
        if row.next_attempt_at is not None and row.next_attempt_at > row.now:
            return (row.next_attempt_at - row.now).total_seconds(), "the next attempt is not due"
        # An earlier message of the conversation is unsent: look again when it is due.
        due = await repository.earliest_due_ahead(
            session,
            row.conversation_id,
            created_at=row.created_at,
            message_id=row.id,
            now=row.now,
            order_wait=self.order_wait,
        )
        left = (due - row.now).total_seconds() if due is not None else 0.0
        return max(left, self.poll_s), "an earlier message of the conversation is unsent"

    async def _next_in_line(
        self, session: AsyncSession, conversation_id: uuid.UUID
    ) -> uuid.UUID | None:
        """The conversation's first queued message (the one settled no longer is)."""
        return await repository.next_in_line(session, conversation_id, order_wait=self.order_wait)

    async def _release(self, message_id: uuid.UUID) -> None:
        async with self.db.session() as session:
            await repository.release_lease(session, message_id)

    async def _record_durably(
        self, claim: _Claim, attempt: int, result: _Result
    ) -> uuid.UUID | None:
        """Record the outcome; a database failure is retried in-process with backoff (above
        all a send Meta accepted: its wamid must not be lost), then handed to the bus.
        Returns the next message in line once this one is settled."""
        deadline = time.monotonic() + self.settings.delivery_record_retry_s
        delay = 0.05
        while True:
            try:
                return await self._record(claim, attempt, result)
            except Exception as exc:
                if time.monotonic() + delay > deadline:
                    log.error(
                        "delivery.record_failed",
                        message_id=str(claim.message.id),
                        outcome=result.outcome,
                        wamid=result.wamid,
                        error=repr(exc),
                    )
                    raise
                log.warning(
                    "delivery.record_retrying",
                    message_id=str(claim.message.id),
                    outcome=result.outcome,
                    error=repr(exc),
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _record(self, claim: _Claim, attempt: int, result: _Result) -> uuid.UUID | None:
        """One transaction: the attempt's outcome, the message's state and its event, and
        (once settled) the conversation's next queued message. Safe to repeat: a message that
        already has a wamid (or left `queued`) is not changed again."""
        message, channel = claim.message, claim.channel
        async with self.db.session() as session:
            outcome = {
                "outcome": result.outcome,
                "http_status": result.http_status,
                "error_code": result.error_code,
                "error": result.error,
                "duration_ms": result.duration_ms,
            }
            await repository.record_attempt(session, message, attempt, outcome)
            values: dict[str, Any] = {"sending_until": None}
            only_queued = False
            retry_in_s: float | None = None
            status: str | None = None
            if result.wamid is not None:
                # Meta accepted it: this wins over any failure we recorded without a wamid.
                status = "sent"
                values |= {
                    "wamid": result.wamid,
                    "status": status,
                    "status_rank": STATUS_RANK[status],
                    "next_attempt_at": None,
                    "error": None,
                    "error_code": None,
                }
            else:
                only_queued = True
                if result.outcome == "retry":
                    retry_in_s = result.retry_in_s
                else:
                    status = "failed"
                    values |= {
                        "status": status,
                        "status_rank": STATUS_RANK[status],
                        "next_attempt_at": None,
                        "error": (result.reason or result.error or "failed")[:1000],
                        "error_code": result.error_code,
                    }
            changed = await repository.settle_delivery(
                session, message.id, values, only_queued=only_queued, retry_in_s=retry_in_s
            )
            if result.needs_reauth:
                await repository.mark_needs_reauth(session, channel.id)
                log.warning("channel.needs_reauth", channel_id=str(channel.id))
            if changed is not None and status is not None:
                await emit_status_updated(
                    session,
                    message.tenant_id,
                    message_id=message.id,
                    conversation_id=message.conversation_id,
                    wamid=result.wamid,
                    status=status,
                    error=values.get("error"),
                    error_code=values.get("error_code"),
                )
            if changed is not None and result.wamid is not None:
                await apply_pending_statuses(session, message.tenant_id, result.wamid)
            successor = (
                None
                if result.outcome == "retry"
                else await self._next_in_line(session, message.conversation_id)
            )
        DELIVERIES.labels(result.outcome).inc()
        log.info(
            "delivery.attempt",
            message_id=str(message.id),
            attempt=attempt,
            outcome=result.outcome,
            error_code=result.error_code,
        )
        return successor
