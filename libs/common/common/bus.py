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

Faults: a supervisor task reconnects after any loss of the connection; each consumer has a
task that redeclares its topology and consumes again (retrying until the broker accepts);
publishing while the broker is away raises `BrokerUnavailable` at once. `check()` asks the
broker whether each of our queues has a consumer, for a `/health` that tells the truth.
"""

import asyncio
import contextlib
import functools
import traceback
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import aio_pika
import aio_pika.exceptions
import aiormq.abc
import aiormq.exceptions
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
)
from prometheus_client import Counter, Histogram
from pydantic import ValidationError

from common.events import Envelope, parse_event, to_json

log = structlog.get_logger(__name__)

Handler = Callable[[Envelope], Awaitable[None]]

ATTEMPT_HEADER = "x-attempt"
DEFERRALS_HEADER = "x-deferrals"
# With queue expiry on (tests), a retry queue lives this many times longer than the others.
# Nobody consumes from it, and a quorum queue's expiry runs from its declaration however often
# it is declared again: one expiring while a message waits in it drops the message. Thirty
# times the tests' 120 s outlives any test run.
RETRY_QUEUE_EXPIRY_FACTOR = 30
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


# A handler of one event model (it takes that model; `Subscription.of` sees to it).
ModelHandler = Callable[[Any], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """A consumer: its queue name (unique per consumer), the events it wants, its handler.

    Services build theirs with `Subscription.of`, from event models; the plain constructor
    (event type strings, one handler for all) is the bus's own form."""

    consumer: str
    event_types: tuple[str, ...]
    handler: Handler
    # Unacked deliveries this consumer holds at once; None: the bus's prefetch. A consumer
    # whose jobs are big (media downloads) takes fewer, so its memory fits its payloads.
    prefetch: int | None = None

    @classmethod
    def of(
        cls,
        consumer: str,
        handlers: Mapping[type[Envelope], ModelHandler],
        *,
        prefetch: int | None = None,
    ) -> "Subscription":
        """Subscribe `consumer` to each model's event type; a delivered event (already parsed
        into its model by the bus) goes to its model's handler.

        An event of a type not in `handlers` (a stale binding, a hand-published message) is a
        `PermanentError`: dead-lettered at once with the type named, as an event the bus cannot
        decode is."""
        by_type = {model.EVENT_TYPE: handler for model, handler in handlers.items()}
        if not by_type:
            raise ValueError(f"consumer {consumer!r} handles no event")

        async def dispatch(event: Envelope) -> None:
            handler = by_type.get(event.event_type)
            if handler is None:
                raise PermanentError(f"{consumer} does not handle {event.event_type}")
            await handler(event)

        return cls(consumer, tuple(by_type), dispatch, prefetch)


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
    """One subscription (or listener) and the channel it consumes on right now."""

    name: str
    handler: Callable[["Delivery", AbstractChannel], Coroutine[Any, Any, None]]
    subscription: Subscription | None = None  # None: a listener (transient queue)
    event_types: tuple[str, ...] = ()
    channel: AbstractChannel | None = None
    underlay: aiormq.abc.AbstractChannel | None = None  # aiormq's, which knows the live tags
    queue: AbstractQueue | None = None
    tag: str | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    in_flight: set[asyncio.Task[Any]] = field(default_factory=set)
    last_error: str | None = None

    @property
    def consuming(self) -> bool:
        """Consuming as far as this process can tell: its channel is open and the broker has
        not cancelled its tag (aiormq forgets a tag on the broker's Basic.Cancel)."""
        channel, underlay = self.channel, self.underlay
        if channel is None or channel.is_closed or underlay is None or self.tag is None:
            return False
        # (aiormq.Channel.consumers; not on its abstract base.)
        return not underlay.is_closed and self.tag in getattr(underlay, "consumers", {})


class Delivery:
    """A consumed message as aiormq delivered it: the fields the bus reads, and its ack/nack
    on the channel it came on (what aio-pika's IncomingMessage gave, for much less work)."""

    __slots__ = (
        "_channel",
        "body",
        "content_type",
        "correlation_id",
        "delivery_tag",
        "headers",
        "message_id",
        "routing_key",
        "timestamp",
        "type",
    )

    def __init__(
        self, delivered: aiormq.abc.DeliveredMessage, channel: aiormq.abc.AbstractChannel
    ) -> None:
        properties = delivered.header.properties
        self.body: bytes = delivered.body
        self.headers: dict[str, Any] = dict(properties.headers or {})
        self.content_type = properties.content_type
        self.message_id = properties.message_id
        self.correlation_id = properties.correlation_id
        self.type = properties.message_type
        self.timestamp = properties.timestamp
        self.routing_key = delivered.routing_key
        self.delivery_tag = delivered.delivery_tag
        self._channel = channel

    async def ack(self) -> None:
        assert self.delivery_tag is not None
        await self._channel.basic_ack(self.delivery_tag)

    async def nack(self, *, requeue: bool = True) -> None:
        assert self.delivery_tag is not None
        await self._channel.basic_nack(self.delivery_tag, requeue=requeue)


class BrokerUnavailable(ConnectionError):
    """The broker connection is down: nothing was published; the caller retries later."""


class Bus:
    """One connection per process, kept up by a supervisor task; a confirmed publish channel;
    one channel per consumer, each kept consuming by its own task.

    aio-pika's robust connection was not enough: it restores only what it declared itself, so
    after a broker restart our consumers stayed gone while the local objects looked alive. So
    the connection is a plain one and we own recovery: on any loss the supervisor reconnects,
    and every consumer task redeclares its topology and consumes again, retrying until the
    broker accepts (quorum queues refuse consumers for a moment after a restart).
    """

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
        self._connection: AbstractConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._probe_channel: AbstractChannel | None = None
        self._up = asyncio.Event()  # set while the connection and publish channel are open
        self._closing = False
        self._supervisor: asyncio.Task[None] | None = None
        self._consumers: dict[str, _Consumer] = {}
        self._listener_count = 0
        self._on_reconnect: list[Callable[[], None]] = []

    # --- lifecycle -------------------------------------------------------------------------

    async def connect(self, *, timeout: float = 10.0) -> None:
        """Connect once (raises when the broker cannot be reached), then stay connected."""
        self._closing = False
        await self._open(timeout)
        self._supervisor = asyncio.create_task(self._supervise(), name=f"bus-{self.service}")

    async def _open(self, timeout: float = 10.0) -> None:
        connection = await aio_pika.connect(
            self.url, timeout=timeout, client_properties={"connection_name": self.service}
        )
        try:
            # on_return_raises: a mandatory publish nobody can receive fails, never vanishes.
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await channel.declare_exchange(
                self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
            )
        except BaseException:
            await connection.close()
            raise
        self._connection, self._publish_channel, self._exchange = connection, channel, exchange
        self._probe_channel = None
        self._up.set()

    async def _supervise(self) -> None:
        """Wait for the connection (or the publish channel) to go, then bring it back."""
        while not self._closing:
            connection, channel = self._connection, self._publish_channel
            if connection is not None and channel is not None:
                lost = {
                    asyncio.ensure_future(connection.closed()),
                    asyncio.ensure_future(channel.closed()),
                }
                try:
                    await asyncio.wait(lost, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in lost:
                        waiter.cancel()
                if self._closing:
                    return
            self._up.clear()
            self._exchange = None
            log.warning("bus.connection_lost", service=self.service)
            if connection is not None and not connection.is_closed:
                with contextlib.suppress(Exception):
                    await connection.close()
            while not self._closing:
                try:
                    await self._open()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("bus.reconnect_failed", error=repr(exc))
                    await asyncio.sleep(self.reconnect_interval)
                    continue
                log.info("bus.reconnected", service=self.service)
                for callback in self._on_reconnect:
                    callback()
                break

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Call `callback` each time the connection is back (e.g. wake an outbox relay)."""
        self._on_reconnect.append(callback)

    async def close(self) -> None:
        self._closing = True
        for consumer in self._consumers.values():
            if consumer.task is not None:
                consumer.task.cancel()
            channel, queue, tag = consumer.channel, consumer.queue, consumer.tag
            if tag and queue is not None and channel is not None and not channel.is_closed:
                try:
                    await queue.cancel(tag)
                except Exception:  # the broker may already be gone; closing anyway
                    log.debug("bus.cancel_failed", consumer=consumer.name)
            if consumer.in_flight:
                await asyncio.wait(consumer.in_flight, timeout=10)
        for consumer in self._consumers.values():
            if consumer.task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await consumer.task
        self._consumers.clear()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        self._up.clear()
        self._exchange = None
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
        self._connection = None

    @property
    def connected(self) -> bool:
        return self._broker_usable()

    def health(self) -> dict[str, str]:
        """`ok`/`down` for the connection and every consumer, as this process sees them.
        `/health` uses `check()`, which asks the broker."""
        state = {"broker": "ok" if self._broker_usable() else "down"}
        for consumer in self._consumers.values():
            alive = self._broker_usable() and consumer.consuming
            state[self._health_key(consumer)] = "ok" if alive else "down"
        return state

    async def check(self, *, timeout: float = 1.5) -> dict[str, str]:
        """Like `health()`, but asked of the broker: the connection answers, and the broker
        counts a consumer on each of our queues (passive declare, which changes nothing)."""
        state = self.health()
        if state["broker"] != "ok":
            return state
        try:
            channel = await asyncio.wait_for(self._probe(), timeout)
        except Exception:
            return {key: "down" for key in state}
        for consumer in self._consumers.values():
            key = self._health_key(consumer)
            if state[key] != "ok" or consumer.queue is None:
                continue
            try:
                queue = await asyncio.wait_for(
                    channel.declare_queue(consumer.queue.name, passive=True), timeout
                )
                count = queue.declaration_result.consumer_count or 0
            except Exception as exc:
                log.warning("bus.check_failed", consumer=consumer.name, error=repr(exc))
                self._probe_channel = None  # a failed passive declare closes the channel
                count = 0
            if count < 1:
                state[key] = "down"
        return state

    async def _probe(self) -> AbstractChannel:
        channel = self._probe_channel
        if channel is None or channel.is_closed:
            if self._connection is None:
                raise BrokerUnavailable("event broker unavailable")
            channel = await self._connection.channel(publisher_confirms=False)
            self._probe_channel = channel
        return channel

    @staticmethod
    def _health_key(consumer: _Consumer) -> str:
        kind = "consumer" if consumer.subscription is not None else "listener"
        return f"{kind}:{consumer.name}"

    def _broker_usable(self) -> bool:
        conn, channel = self._connection, self._publish_channel
        return (
            self._up.is_set()
            and conn is not None
            and not conn.is_closed
            and channel is not None
            and not channel.is_closed
        )

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
        try:
            # aiormq's own publish, under aio-pika's: the same frames and confirms (a return
            # raises when mandatory, as aio-pika's channel was opened with on_return_raises),
            # without building an aio-pika Message per event, and without waiting for the
            # socket to drain after each one (`wait=False`): the batch is written back to back
            # and every confirm is still awaited.
            # (aiormq's Channel: its abstract base does not declare `wait`.)
            channel = cast(aiormq.Channel, await self._require_channel().get_underlay_channel())
            name = exchange.name

            def publish(e: Serialized) -> Awaitable[object]:
                return channel.basic_publish(
                    e.body,
                    exchange=name,
                    routing_key=e.event_type,
                    properties=_properties(e),
                    mandatory=mandatory,
                    wait=False,
                )

            if len(events) == 1:  # a webhook's usual one: no task for gather to wrap it in
                await publish(events[0])
            else:
                await asyncio.gather(*(publish(e) for e in events))
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # we are being cancelled: not a broker fault
            # aiormq cancels pending confirms when the connection closes under them.
            raise BrokerUnavailable("event broker connection lost while publishing") from None
        except (
            aiormq.exceptions.AMQPConnectionError,
            aiormq.exceptions.ChannelClosed,
            aiormq.exceptions.ChannelInvalidStateError,
        ) as exc:
            raise BrokerUnavailable(f"event broker unavailable: {exc!r}") from exc
        for e in events:
            EVENTS_PUBLISHED.labels(e.event_type).inc()

    def _require_exchange(self) -> AbstractExchange:
        if self._exchange is None or not self._broker_usable():
            if self._supervisor is None and not self._closing and self._connection is None:
                raise RuntimeError("Bus.connect() was not called")
            raise BrokerUnavailable("event broker unavailable")
        return self._exchange

    def _require_channel(self) -> AbstractChannel:
        if self._publish_channel is None or not self._broker_usable():
            if self._connection is None:
                raise RuntimeError("Bus.connect() was not called")
            raise BrokerUnavailable("event broker unavailable")
        return self._publish_channel

    # --- consuming -------------------------------------------------------------------------

    async def declare(self, subscription: Subscription) -> AbstractQueue:
        """Declare the consumer's queue, its delay tiers and its dead-letter queue."""
        return await self._declare_on(self._require_channel(), subscription)

    async def _declare_on(
        self, channel: AbstractChannel, subscription: Subscription
    ) -> AbstractQueue:
        name = self.queue_name(subscription.consumer)
        exchange = await channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(name, durable=True, arguments=self._queue_args())
        for event_type in subscription.event_types:
            await queue.bind(exchange, routing_key=event_type)
        for delay in self.retry_delays_ms:
            await channel.declare_queue(
                self.retry_queue_name(subscription.consumer, delay),
                durable=True,
                arguments={
                    **self._queue_args(RETRY_QUEUE_EXPIRY_FACTOR),
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

    def _queue_args(self, expiry_factor: int = 1) -> dict[str, Any]:
        args: dict[str, Any] = {"x-queue-type": "quorum"} if self.quorum_queues else {}
        if self.queue_expires_ms:
            args["x-expires"] = self.queue_expires_ms * expiry_factor
        return args

    def _safe_dead_lettering(self) -> dict[str, Any]:
        # Quorum queues dead-letter at-most-once unless told otherwise.
        if not self.quorum_queues:
            return {}
        return {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}

    async def subscribe(self, subscription: Subscription, *, timeout: float = 30.0) -> None:
        """Consume until `close()`: the handler's success acks, its failure retries or
        dead-letters. Returns once consuming (raises if the broker refuses for `timeout`);
        after any loss of channel or connection, consuming resumes by itself."""
        if subscription.consumer in self._consumers:
            raise ValueError(f"consumer {subscription.consumer!r} is already subscribed")
        consumer = _Consumer(
            name=subscription.consumer,
            handler=lambda message, channel: self._handle(consumer, message, channel),
            subscription=subscription,
            event_types=subscription.event_types,
        )
        await self._start(consumer, timeout)
        log.info("bus.subscribed", consumer=subscription.consumer, events=subscription.event_types)

    async def listen(
        self,
        event_types: Sequence[str],
        handler: Handler,
        *,
        name: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        """Receive `event_types` on a transient queue of this process (server-named, exclusive,
        auto-delete): every replica sees every event while it runs; nothing is retried or kept.

        For fan-out to live clients (SSE), never for work that must happen exactly once: use
        `subscribe` for that. A handler's failure is logged and the event dropped. Events
        published while the broker is away are not seen (the queue goes with the connection).
        """
        self._listener_count += 1
        listener_name = name or f"listener-{self._listener_count}"

        async def on_message(message: Delivery, _: AbstractChannel) -> None:
            try:
                await handler(parse_event(message.body))
            except Exception as exc:
                log.warning("bus.listener_failed", error=repr(exc))

        consumer = _Consumer(name=listener_name, handler=on_message, event_types=tuple(event_types))
        await self._start(consumer, timeout)

    async def _start(self, consumer: _Consumer, timeout: float) -> None:
        if self._connection is None:
            raise RuntimeError("Bus.connect() was not called")
        self._consumers[consumer.name] = consumer
        consumer.task = asyncio.create_task(
            self._keep_consuming(consumer), name=f"consume-{consumer.name}"
        )
        try:
            await asyncio.wait_for(consumer.ready.wait(), timeout)
        except TimeoutError:
            consumer.task.cancel()
            self._consumers.pop(consumer.name, None)
            raise BrokerUnavailable(
                f"could not consume {consumer.name!r}: {consumer.last_error}"
            ) from None

    async def _keep_consuming(self, consumer: _Consumer) -> None:
        """Open a channel, declare, consume; when the channel, the connection or the broker's
        side of the consumer goes, start again, until `close()`."""
        retry_in = 0.25
        while not self._closing:
            await self._up.wait()
            connection = self._connection
            if connection is None or connection.is_closed:
                await asyncio.sleep(retry_in)
                continue
            cancelled = asyncio.Event()
            channel: AbstractChannel | None = None
            try:
                # on_return_raises: parking a message in a queue that is gone (expired, deleted)
                # must fail, not be confirmed and dropped while the original is acked.
                channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
                underlay = await channel.get_underlay_channel()
                underlay.on_consumer_cancel_callbacks.add(_setter(cancelled))
                queue = await self._consumer_queue(channel, consumer)
                prefetch = consumer.subscription and consumer.subscription.prefetch
                await channel.set_qos(prefetch_count=prefetch or self.prefetch)
                consumer.channel, consumer.underlay, consumer.queue = channel, underlay, queue
                # On aiormq's channel under aio-pika's: each delivery reaches `_track` as it
                # came off the wire, without an aio-pika message (and its task) in between.
                consume_ok = await underlay.basic_consume(
                    queue.name,
                    functools.partial(self._track, consumer, channel, underlay),
                    no_ack=consumer.subscription is None,
                )
                consumer.tag = consume_ok.consumer_tag
                consumer.last_error = None
                consumer.ready.set()
                retry_in = 0.25
                log.info("bus.consuming", consumer=consumer.name, queue=queue.name)
                gone = {
                    asyncio.ensure_future(channel.closed()),
                    asyncio.ensure_future(cancelled.wait()),
                }
                try:
                    await asyncio.wait(gone, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in gone:
                        waiter.cancel()
                if not self._closing:
                    why = "cancelled by the broker" if cancelled.is_set() else "channel closed"
                    log.warning("bus.consumer_lost", consumer=consumer.name, reason=why)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # refused (e.g. a quorum queue without a leader yet)
                consumer.last_error = repr(exc)
                log.warning("bus.consume_retry", consumer=consumer.name, error=repr(exc))
            finally:
                consumer.tag = None
                if channel is not None and not channel.is_closed and not self._closing:
                    with contextlib.suppress(Exception):
                        await channel.close()
            if not self._closing:
                await asyncio.sleep(retry_in)
                retry_in = min(retry_in * 2, self.reconnect_interval)

    async def _consumer_queue(self, channel: AbstractChannel, consumer: _Consumer) -> AbstractQueue:
        if consumer.subscription is not None:
            return await self._declare_on(channel, consumer.subscription)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True, durable=False)
        exchange = await channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        for event_type in consumer.event_types:
            await queue.bind(exchange, routing_key=event_type)
        return queue

    async def _track(
        self,
        consumer: _Consumer,
        channel: AbstractChannel,
        underlay: aiormq.abc.AbstractChannel,
        delivered: aiormq.abc.DeliveredMessage,
    ) -> None:
        # aiormq cancels its consumer callbacks when their channel closes (a broker restart):
        # the handler runs in a task of its own, so a fault never cuts it between two steps
        # (say, after a delivery recorded its attempt and before it called the Graph API).
        # Its ack is then lost; the redelivery finds the work done.
        message = Delivery(delivered, underlay)
        work: asyncio.Task[None] = asyncio.create_task(consumer.handler(message, channel))
        consumer.in_flight.add(work)
        work.add_done_callback(consumer.in_flight.discard)
        await asyncio.shield(work)

    async def _handle(
        self, consumer: _Consumer, message: "Delivery", channel: AbstractChannel
    ) -> None:
        assert consumer.subscription is not None
        name = consumer.name
        attempt = _int_header(message.headers, ATTEMPT_HEADER)
        structlog.contextvars.clear_contextvars()
        try:
            event = parse_event(message.body)
        except ValidationError as exc:
            await self._settle_failure(
                consumer, message, channel, f"undecodable event: {_short(exc)}", permanent=True
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
            reason = _describe(exc, with_type=False)
            log.warning("bus.permanent_failure", error=reason)
            await self._settle_failure(
                consumer, message, channel, f"permanent: {reason}", permanent=True
            )
        except RetryAfter as exc:
            log.info("bus.deferred", delay_s=round(exc.delay_s, 3), reason=str(exc))
            await self._defer(consumer, message, channel, exc)
        except Exception as exc:
            log.warning("bus.handler_failed", attempt=attempt, error=_describe(exc))
            await self._settle_failure(consumer, message, channel, _describe(exc), permanent=False)
        else:
            if await _settle(message.ack()):
                EVENTS_CONSUMED.labels(name, "ok").inc()
        finally:
            structlog.contextvars.clear_contextvars()

    async def _settle_failure(
        self,
        consumer: _Consumer,
        message: "Delivery",
        channel: AbstractChannel,
        reason: str,
        *,
        permanent: bool,
    ) -> None:
        name = consumer.name
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
        if not await self._park(consumer, message, channel, target, headers):
            return
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
        self,
        consumer: _Consumer,
        message: "Delivery",
        channel: AbstractChannel,
        exc: RetryAfter,
    ) -> None:
        headers: dict[str, Any] = dict(message.headers or {})
        deferrals = _int_header(headers, DEFERRALS_HEADER)
        if deferrals >= self.max_deferrals or not self.retry_delays_ms:
            await self._settle_failure(
                consumer, message, channel, f"deferred {deferrals} times: {exc}", permanent=True
            )
            return
        headers[DEFERRALS_HEADER] = deferrals + 1
        headers.setdefault(ORIGINAL_KEY_HEADER, message.routing_key or "")
        target = self.retry_queue_name(consumer.name, self.deferral_tier_ms(exc.delay_s))
        if await self._park(consumer, message, channel, target, headers):
            EVENTS_CONSUMED.labels(consumer.name, "deferred").inc()

    async def _park(
        self,
        consumer: _Consumer,
        message: "Delivery",
        channel: AbstractChannel,
        target: str,
        headers: dict[str, Any],
    ) -> bool:
        """Publish a copy to `target` (confirmed), then ack the original; False if not done."""
        # On the channel the message came on: if that one is gone, so is our delivery (the
        # broker redelivers it), and a copy parked elsewhere would be a duplicate.
        copy = _copy(message, headers)
        try:
            try:
                await channel.default_exchange.publish(copy, routing_key=target, mandatory=True)
            except aio_pika.exceptions.DeliveryError:
                # Returned: the queue is gone. Declare the topology again, then once more.
                assert consumer.subscription is not None
                log.warning("bus.park_redeclare", target=target)
                await self._declare_on(channel, consumer.subscription)
                await channel.default_exchange.publish(copy, routing_key=target, mandatory=True)
        except Exception as exc:
            # Could not park it: leave it to the broker to redeliver rather than drop it.
            log.error("bus.park_failed", target=target, error=repr(exc))
            if not channel.is_closed:
                await _settle(message.nack(requeue=True))
            return False
        return await _settle(message.ack())

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


def _properties(event: Serialized) -> aiormq.spec.Basic.Properties:
    # What aio_pika.Message(...).properties gives for these fields (the same wire form).
    return aiormq.spec.Basic.Properties(
        content_type="application/json",
        headers={},
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        priority=0,
        message_id=str(event.event_id),
        correlation_id=event.correlation_id,
        message_type=event.event_type,
        timestamp=event.occurred_at,
    )


def _copy(
    message: "Delivery | AbstractIncomingMessage", headers: dict[str, Any]
) -> aio_pika.Message:
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


def _setter(event: asyncio.Event) -> Callable[[Any], None]:
    def set_event(_: Any) -> None:
        event.set()

    return set_event


async def _settle(ack: Awaitable[Any]) -> bool:
    """Ack or nack; False when the channel went first. The handler's work is committed; the
    broker redelivers the message, and the handler's claim makes the redelivery a no-op."""
    try:
        await ack
        return True
    except Exception as exc:
        log.warning("bus.ack_lost", error=repr(exc))
        return False


def _describe(exc: BaseException, *, with_type: bool = True) -> str:
    """The exception's type and first line, without data: SQLAlchemy appends the statement
    and its bound parameters (message text, emails) after the first line."""
    first = (str(exc).strip().splitlines() or [""])[0]
    first = first.split("[SQL:")[0].split("[parameters:")[0].strip()
    if not with_type:
        return first[:300]
    return f"{type(exc).__name__}: {first[:300]}" if first else type(exc).__name__


def _short(exc: BaseException) -> str:
    text = str(exc) or "".join(traceback.format_exception_only(exc)).strip()
    return text[:500]
