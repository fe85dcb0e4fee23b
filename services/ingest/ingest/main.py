from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from common.app import ServiceRuntime, create_service_app
from common.bus import Subscription
from common.db import Database
from common.ratelimit import FixedWindowLimiter
from common.retention import Retention, claims_kept, windows_kept
from ingest.api import routers
from ingest.consumers import subscriptions
from ingest.crypto import TokenCipher
from ingest.delivery import Deliverer
from ingest.graph import GraphClient, RateLimiter
from ingest.media import MediaFetcher
from ingest.models import PendingStatus, outbox, processed_events, rate_limit_buckets
from ingest.receipts import ReadReceipts
from ingest.settings import IngestSettings
from ingest.sse import STREAMED_EVENTS, EventHub

SERVICE_DIR = Path(__file__).resolve().parent.parent


def graph_client(settings: IngestSettings) -> GraphClient:
    return GraphClient(
        settings.whatsapp_graph_url,
        timeout_s=settings.graph_timeout_s,
        max_connections=settings.graph_max_connections,
    )


def consumer_subscriptions(
    settings: IngestSettings, db: Database, graph: GraphClient, cipher: TokenCipher
) -> list[Subscription]:
    """ingest's consumers with their collaborators: the Graph API workers are built here,
    for the consumers alone (nothing here connects; the bus subscribes what it returns)."""
    limiter = RateLimiter(settings.send_rate_per_number)
    receipts = ReadReceipts(db, settings, graph, cipher)
    return subscriptions(
        db,
        settings,
        graph=graph,
        cipher=cipher,
        deliverer=Deliverer(db, settings, graph, cipher, limiter, receipts),
        fetcher=MediaFetcher(db, settings, graph, cipher),
        receipts=receipts,
    )


def consumer_names() -> list[str]:
    """ingest's consumer names for `make dlq-list` / `dlq-replay` (the `whatsapp_ai.consumers`
    entry point): read off the same subscriptions the runtime makes, so the two cannot drift.
    Built, never started: nothing connects, and the settings only size the subscriptions, so
    development defaults do (listing queues needs no production secrets)."""
    settings = IngestSettings(environment="development")
    return [
        s.consumer
        for s in consumer_subscriptions(
            settings,
            Database(settings.database_url, pool_size=1),
            graph_client(settings),
            TokenCipher(settings.channel_token_key.get_secret_value()),
        )
    ]


class IngestRuntime(ServiceRuntime):
    """The shared runtime plus what ingest adds: the Graph API client and the live stream."""

    def __init__(self, settings: IngestSettings) -> None:
        super().__init__(
            settings,
            service_dir=SERVICE_DIR,
            outbox=outbox,
            retention=[
                claims_kept(processed_events, settings),
                # A status waits for its message for seconds; one still waiting after days
                # names a message that will never be stored here.
                Retention(PendingStatus.__table__, "created_at", timedelta(days=3)),
                windows_kept(rate_limit_buckets),
            ],
        )
        self.ingest_settings = settings
        self.cipher = TokenCipher(settings.channel_token_key.get_secret_value())
        self.hub = EventHub(
            replay=settings.sse_replay_events,
            client_queue=settings.sse_client_queue,
            idle_s=settings.sse_buffer_idle_s,
            revocations=self.revocations,
        )
        self.graph: GraphClient | None = None

    def consumer_subscriptions(self) -> list[Subscription]:
        assert self.db is not None and self.graph is not None
        return consumer_subscriptions(self.ingest_settings, self.db, self.graph, self.cipher)

    async def start(self) -> None:
        s = self.ingest_settings
        self.graph = graph_client(s)
        await super().start()
        assert self.bus is not None
        await self.bus.listen(STREAMED_EVENTS, self.hub.publish, name="sse")

    def app_state(self) -> dict[str, object]:
        assert self.db is not None
        limiter = FixedWindowLimiter(self.db, rate_limit_buckets)
        return {**super().app_state(), "rate_limiter": limiter}

    async def stop(self) -> None:
        await super().stop()
        if self.graph is not None:
            await self.graph.close()
            self.graph = None


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    """ingest: its schema migrated at start, its consumers, outbox relay and live stream running."""
    settings = settings or IngestSettings()
    runtime = IngestRuntime(settings)
    app = create_service_app(
        settings,
        runtime,
        title="WhatsApp AI ingest",
        description="Channels, contacts, conversations and messages: the WhatsApp inbox.",
        routers=routers,
    )
    app.state.hub = runtime.hub
    app.state.cipher = runtime.cipher
    return app
