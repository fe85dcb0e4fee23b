"""The event bus on RabbitMQ (aio-pika).

Topology, for exchange prefix P and a consumer C:
- `P.events`          durable topic exchange; routing key = event type.
- `P.C`               the consumer's durable (quorum) queue, bound to its event types.
- `P.C.retry.<ms>`    one delay queue per fixed TTL tier; expired messages dead-letter back
                      into `P.C` through the default exchange.
- `P.C.dlq`           dead letters, with the reason in their headers; `replay_dead_letters`
                      moves them back into `P.C`.

Publishing waits for the broker's confirm. Consuming acks only after the handler returned
(its transaction committed); a failure is re-published to the next delay tier (confirmed)
before the original is acked, so nothing is dropped and nothing spins in place. A handler
that must wait (a lease held elsewhere, a provider's Retry-After) raises `RetryAfter`: the
job goes to the shortest tier at least that long, without using up one of its attempts.
"""

import asyncio
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from prometheus_client import Counter, Histogram
from pydantic import ValidationError

from common.events import Envelope, parse_event, to_json

log = structlog.get_logger(__name__)

Handler = Callable[[Envelope], Awaitable[None]]

ATTEMPT_HEADER = "x-attempt"
DEFERRALS_HEADER = "x-deferrals"
ORIGINAL_KEY_HEADER = "x-original-routing-key"
REASON_HEADER = "x-dead-letter-reason"

EVENTS_PUBLISHED = Counter(
    "bus_events_published_total", "Events confirmed by the broker", ["event_type"]
)
EVENTS_CONSUMED = Counter(
    "bus_events_consumed_total", "Events handled, by outcome", ["consumer", "outcome"]
)
HANDLE_SECONDS = Histogram("bus_handle_seconds", "Handler duration", ["consumer"])


class PermanentError(Exception):
    """A failure that no retry can fix: the event goes straight to the dead-letter queue."""


class RetryAfter(Exception):
    """Not a failure: the handler must try again no sooner than `delay_s` seconds from now.

    The job goes to the shortest delay tier of at least `delay_s` (the longest tier when none
    is that long: the handler then defers again for the rest). It does not use up one of the
    job's attempts; `max_deferrals` bounds the waits of a handler that never stops deferring.
    """

    def __init__(self, delay_s: float, reason: str = "") -> None:
        super().__init__(reason or f"retry after {delay_s:.3f}s")
        self.delay_s = max(0.0, delay_s)


@dataclass(frozen=True)
class Subscription:
    """A consumer: its queue name (unique per consumer), the events it wants, its handler."""

    consumer: str
    event_types: tuple[str, ...]
    handler: Handler


@dataclass(frozen=True)
class Serialized:
    """An event already in its wire form (an outbox row): published as its bytes are."""

    event_id: uuid.UUID
    event_type: str
    body: bytes
    correlation_id: str | None = None
    occurred_at: datetime | None = None


@dataclass
class _Consumer:
    subscription: Subscription
    channel: AbstractChannel
    queue: AbstractQueue
    tag: str | None = None
    in_flight: set[asyncio.Task[None]] = field(default_factory=set)


class Bus:
    """One connection per process; a confirmed publish channel; one channel per consumer."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "",
        service: str = "service",
        retry_delays_ms: Sequence[int] = (1_000, 10_000, 60_000, 300_000),
        prefetch: int = 32,
        quorum_queues: bool = True,
        queue_expires_ms: int | None = None,
        reconnect_interval: float = 2.0,
        max_deferrals: int = 10_000,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.service = service
        self.retry_delays_ms = tuple(retry_delays_ms)
        self.prefetch = prefetch
        self.quorum_queues = quorum_queues
        # Queues unused this long are deleted by the broker: for test runs, whose prefixed
        # topologies would otherwise pile up on a shared broker.
        self.queue_expires_ms = queue_expires_ms
        self.reconnect_interval = reconnect_interval
        self.max_deferrals = max_deferrals
        # Consumers whose queues this process declared (tests remove them afterwards).
        self.declared_consumers: set[str] = set()
        self.exchange_name = f"{prefix}events"
        # Strong references: a robust connection restores only objects still referenced.
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._consumers: dict[str, _Consumer] = {}
        self._listeners: list[tuple[AbstractChannel, AbstractQueue, str]] = []

    # --- lifecycle -------------------------------------------------------------------------

    async def connect(self, *, timeout: float = 10.0) -> None:
        self._connection = await aio_pika.connect_robust(
            self.url,
            timeout=timeout,
            reconnect_interval=self.reconnect_interval,
            client_properties={"connection_name": self.service},
        )
        # on_return_raises: a mandatory publish nobody can receive fails instead of vanishing.
        self._publish_channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        self._exchange = await self._publish_channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )

    async def close(self) -> None:
        for consumer in self._consumers.values():
            if consumer.tag and not consumer.channel.is_closed:
                try:
                    await consumer.queue.cancel(consumer.tag)
                except Exception:  # the broker may already be gone; closing anyway
                    log.debug("bus.cancel_failed", consumer=consumer.subscription.consumer)
            if consumer.in_flight:
                await asyncio.wait(consumer.in_flight, timeout=10)
        self._consumers.clear()
        self._listeners.clear()
        if self._connection is not None:
            await self._connection.close()
        self._connection = None

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed

    def health(self) -> dict[str, str]:
        """`ok`/`down` for the broker connection and every consumer."""
        state = {"broker": "ok" if self._broker_usable() else "down"}
        for name, consumer in self._consumers.items():
            alive = (
                self._broker_usable()
                and not consumer.channel.is_closed
                and consumer.tag is not None
            )
            state[f"consumer:{name}"] = "ok" if alive else "down"
        return state

    def _broker_usable(self) -> bool:
        # A robust connection object outlives its socket: ask whether it is connected now.
        conn = self._connection
        if conn is None or conn.is_closed:
            return False
        connected = getattr(conn, "connected", None)
        return bool(connected is not None and connected.is_set() and conn.transport is not None)

    # --- names -----------------------------------------------------------------------------

    def queue_name(self, consumer: str) -> str:
        return f"{self.prefix}{consumer}"

    def retry_queue_name(self, consumer: str, delay_ms: int) -> str:
        return f"{self.queue_name(consumer)}.retry.{delay_ms}"

    def dlq_name(self, consumer: str) -> str:
        return f"{self.queue_name(consumer)}.dlq"

    # --- publishing ------------------------------------------------------------------------

    async def publish(self, event: Envelope, *, mandatory: bool = False) -> None:
        """Publish and wait for the broker's confirm. `mandatory`: fail if no queue takes it."""
        await self.publish_many([event], mandatory=mandatory)

    async def publish_many(self, events: Iterable[Envelope], *, mandatory: bool = False) -> None:
        """Publish several events pipelined; returns once every one is confirmed."""
        await self.publish_serialized(
            [
                Serialized(e.event_id, e.event_type, to_json(e), e.correlation_id, e.occurred_at)
                for e in events
            ],
            mandatory=mandatory,
        )

    async def publish_serialized(
        self, events: Sequence[Serialized], *, mandatory: bool = False
    ) -> None:
        """Like `publish_many`, for events already serialised (no model, no re-encoding)."""
        exchange = self._require_exchange()
        await asyncio.gather(
            *(
                exchange.publish(_message(e), routing_key=e.event_type, mandatory=mandatory)
                for e in events
            )
        )
        for e in events:
            EVENTS_PUBLISHED.labels(e.event_type).inc()

    def _require_exchange(self) -> AbstractExchange:
        if self._exchange is None:
            raise RuntimeError("Bus.connect() was not called")
        return self._exchange

    def _require_channel(self) -> AbstractChannel:
        if self._publish_channel is None:
            raise RuntimeError("Bus.connect() was not called")
        return self._publish_channel

    # --- consuming -------------------------------------------------------------------------

    async def declare(self, subscription: Subscription) -> AbstractQueue:
        """Declare the consumer's queue, its delay tiers and its dead-letter queue."""
        if self._connection is None:
            raise RuntimeError("Bus.connect() was not called")
        channel = self._require_channel()
        name = self.queue_name(subscription.consumer)
        queue = await channel.declare_queue(name, durable=True, arguments=self._queue_args())
        for event_type in subscription.event_types:
            await queue.bind(self._require_exchange(), routing_key=event_type)
        for delay in self.retry_delays_ms:
            await channel.declare_queue(
                self.retry_queue_name(subscription.consumer, delay),
                durable=True,
                arguments={
                    **self._queue_args(),
                    "x-message-ttl": delay,
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": name,
                    **self._safe_dead_lettering(),
                },
            )
        await channel.declare_queue(
            self.dlq_name(subscription.consumer), durable=True, arguments=self._queue_args()
        )
        self.declared_consumers.add(subscription.consumer)
        return queue

    def _queue_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"x-queue-type": "quorum"} if self.quorum_queues else {}
        if self.queue_expires_ms:
            args["x-expires"] = self.queue_expires_ms
        return args

    def _safe_dead_lettering(self) -> dict[str, Any]:
        # Quorum queues dead-letter at-most-once unless told otherwise.
        if not self.quorum_queues:
            return {}
        return {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}

    async def subscribe(self, subscription: Subscription) -> None:
        """Start consuming; the handler's success acks, its failure retries or dead-letters."""
        if self._connection is None:
            raise RuntimeError("Bus.connect() was not called")
        if subscription.consumer in self._consumers:
            raise ValueError(f"consumer {subscription.consumer!r} is already subscribed")
        await self.declare(subscription)
        channel = await self._connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=self.prefetch)
        queue = await channel.get_queue(self.queue_name(subscription.consumer), ensure=False)
        consumer = _Consumer(subscription=subscription, channel=channel, queue=queue)
        self._consumers[subscription.consumer] = consumer

        async def on_message(message: AbstractIncomingMessage) -> None:
            task = asyncio.current_task()
            if task is not None:
                consumer.in_flight.add(task)
            try:
                await self._handle(consumer, message)
            finally:
                if task is not None:
                    consumer.in_flight.discard(task)

        consumer.tag = await queue.consume(on_message, no_ack=False)
        log.info("bus.subscribed", consumer=subscription.consumer, events=subscription.event_types)

    async def listen(self, event_types: Sequence[str], handler: Handler) -> None:
        """Receive `event_types` on a transient queue of this process (server-named, exclusive,
        auto-delete): every replica sees every event while it runs; nothing is retried or kept.

        For fan-out to live clients (SSE), never for work that must happen exactly once: use
        `subscribe` for that. A handler's failure is logged and the event dropped.
        """
        if self._connection is None:
            raise RuntimeError("Bus.connect() was not called")
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self.prefetch)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True, durable=False)
        exchange = await channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        for event_type in event_types:
            await queue.bind(exchange, routing_key=event_type)

        async def on_message(message: AbstractIncomingMessage) -> None:
            try:
                await handler(parse_event(message.body))
            except Exception as exc:
                log.warning("bus.listener_failed", error=repr(exc))

        tag = await queue.consume(on_message, no_ack=True)
        # Strong references, so the robust connection restores the queue after a reconnect.
        self._listeners.append((channel, queue, tag))

    async def _handle(self, consumer: _Consumer, message: AbstractIncomingMessage) -> None:
        name = consumer.subscription.consumer
        attempt = _int_header(message.headers, ATTEMPT_HEADER)
        structlog.contextvars.clear_contextvars()
        try:
            event = parse_event(message.body)
        except ValidationError as exc:
            await self._settle_failure(
                consumer, message, f"undecodable event: {_short(exc)}", permanent=True
            )
            return
        structlog.contextvars.bind_contextvars(
            correlation_id=event.correlation_id,
            event_id=str(event.event_id),
            event_type=event.event_type,
            consumer=name,
        )
        try:
            with HANDLE_SECONDS.labels(name).time():
                await consumer.subscription.handler(event)
        except PermanentError as exc:
            log.warning("bus.permanent_failure", error=str(exc))
            await self._settle_failure(consumer, message, f"permanent: {exc}", permanent=True)
        except RetryAfter as exc:
            log.info("bus.deferred", delay_s=round(exc.delay_s, 3), reason=str(exc))
            await self._defer(consumer, message, exc)
        except Exception as exc:
            log.warning("bus.handler_failed", attempt=attempt, error=repr(exc))
            await self._settle_failure(
                consumer, message, f"{type(exc).__name__}: {exc}", permanent=False
            )
        else:
            await message.ack()
            EVENTS_CONSUMED.labels(name, "ok").inc()
        finally:
            structlog.contextvars.clear_contextvars()

    async def _settle_failure(
        self,
        consumer: _Consumer,
        message: AbstractIncomingMessage,
        reason: str,
        *,
        permanent: bool,
    ) -> None:
        name = consumer.subscription.consumer
        headers: dict[str, Any] = dict(message.headers or {})
        attempt = _int_header(headers, ATTEMPT_HEADER)
        headers.setdefault(ORIGINAL_KEY_HEADER, message.routing_key or "")
        retry = not permanent and attempt < len(self.retry_delays_ms)
        if retry:
            target = self.retry_queue_name(name, self.retry_delays_ms[attempt])
            headers[ATTEMPT_HEADER] = attempt + 1
        else:
            target = self.dlq_name(name)
            headers[REASON_HEADER] = reason[:1000]
            headers["x-dead-lettered-at"] = datetime.now(UTC).isoformat()
            headers["x-consumer"] = name
        try:
            await consumer.channel.default_exchange.publish(
                _copy(message, headers), routing_key=target, mandatory=True
            )
        except Exception as exc:
            # Could not park it: leave it to the broker to redeliver rather than drop it.
            log.error("bus.park_failed", target=target, error=repr(exc))
            if not consumer.channel.is_closed:
                await message.nack(requeue=True)
            return
        await message.ack()
        outcome = "retried" if retry else "dead_lettered"
        EVENTS_CONSUMED.labels(name, outcome).inc()
        if not retry:
            log.error("bus.dead_lettered", reason=reason, attempts=attempt + 1)

    def deferral_tier_ms(self, delay_s: float) -> int:
        """The shortest delay tier of at least `delay_s`, else the longest."""
        wanted = delay_s * 1000
        longer = [d for d in self.retry_delays_ms if d >= wanted]
        return min(longer) if longer else max(self.retry_delays_ms)

    async def _defer(
        self, consumer: _Consumer, message: AbstractIncomingMessage, exc: RetryAfter
    ) -> None:
        headers: dict[str, Any] = dict(message.headers or {})
        deferrals = _int_header(headers, DEFERRALS_HEADER)
        if deferrals >= self.max_deferrals or not self.retry_delays_ms:
            await self._settle_failure(
                consumer, message, f"deferred {deferrals} times: {exc}", permanent=True
            )
            return
        headers[DEFERRALS_HEADER] = deferrals + 1
        headers.setdefault(ORIGINAL_KEY_HEADER, message.routing_key or "")
        name = consumer.subscription.consumer
        target = self.retry_queue_name(name, self.deferral_tier_ms(exc.delay_s))
        try:
            await consumer.channel.default_exchange.publish(
                _copy(message, headers), routing_key=target, mandatory=True
            )
        except Exception as error:
            log.error("bus.park_failed", target=target, error=repr(error))
            if not consumer.channel.is_closed:
                await message.nack(requeue=True)
            return
        await message.ack()
        EVENTS_CONSUMED.labels(name, "deferred").inc()

    # --- dead letters ----------------------------------------------------------------------

    async def dead_letter_count(self, consumer: str) -> int:
        channel = self._require_channel()
        queue = await channel.declare_queue(
            self.dlq_name(consumer), durable=True, arguments=self._queue_args()
        )
        return int(queue.declaration_result.message_count or 0)

    async def replay_dead_letters(self, consumer: str, *, limit: int | None = None) -> int:
        """Move `consumer`'s dead letters back into its queue, attempts reset; returns how many."""
        channel = self._require_channel()
        dlq = await channel.declare_queue(
            self.dlq_name(consumer), durable=True, arguments=self._queue_args()
        )
        moved = 0
        while limit is None or moved < limit:
            message = await dlq.get(no_ack=False, fail=False, timeout=5)
            if message is None:
                break
            headers = {
                k: v
                for k, v in (message.headers or {}).items()
                if k
                not in (
                    ATTEMPT_HEADER,
                    DEFERRALS_HEADER,
                    REASON_HEADER,
                    "x-dead-lettered-at",
                    "x-consumer",
                )
            }
            headers["x-replayed"] = _int_header(headers, "x-replayed") + 1
            await channel.default_exchange.publish(
                _copy(message, headers), routing_key=self.queue_name(consumer), mandatory=True
            )
            await message.ack()
            moved += 1
        log.info("bus.replayed", consumer=consumer, count=moved)
        return moved

    async def delete_topology(self, consumers: Iterable[str]) -> None:
        """Remove a consumer's queues and the exchange (test clean-up)."""
        channel = self._require_channel()
        for consumer in consumers:
            names = [
                self.queue_name(consumer),
                self.dlq_name(consumer),
                *(self.retry_queue_name(consumer, d) for d in self.retry_delays_ms),
            ]
            for name in names:
                await channel.queue_delete(name)
        await channel.exchange_delete(self.exchange_name)


def _message(event: Serialized) -> aio_pika.Message:
    return aio_pika.Message(
        body=event.body,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=str(event.event_id),
        correlation_id=event.correlation_id,
        type=event.event_type,
        timestamp=event.occurred_at,
    )


def _copy(message: AbstractIncomingMessage, headers: dict[str, Any]) -> aio_pika.Message:
    return aio_pika.Message(
        body=message.body,
        headers=headers,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        type=message.type,
        timestamp=message.timestamp,
    )


def _int_header(headers: Mapping[str, Any] | None, name: str) -> int:
    value = (headers or {}).get(name)
    return value if isinstance(value, int) else 0


def _short(exc: BaseException) -> str:
    text = str(exc) or "".join(traceback.format_exception_only(exc)).strip()
    return text[:500]
