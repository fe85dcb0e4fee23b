from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from common.app import ServiceRuntime, create_service_app
from common.ratelimit import FixedWindowLimiter
from common.retention import Retention, claims_kept, windows_kept
from ingest.api import routers
from ingest.consumers import subscriptions
from ingest.crypto import TokenCipher
from ingest.delivery import Deliverer, MediaFetcher, ReadReceipts
from ingest.graph import GraphClient, RateLimiter
from ingest.models import PendingStatus, outbox, processed_events, rate_limit_buckets
from ingest.settings import IngestSettings
from ingest.sse import STREAMED_EVENTS, EventHub

SERVICE_DIR = Path(__file__).resolve().parent.parent


class IngestRuntime(ServiceRuntime):
    """The shared runtime plus what ingest adds: the Graph API client and the live stream."""

    def __init__(self, settings: IngestSettings) -> None:
        super().__init__(
            settings,
            service_dir=SERVICE_DIR,
            outbox=outbox,
            subscriptions=subscriptions,
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
        self.deliverer: Deliverer | None = None
        self.media_fetcher: MediaFetcher | None = None
        self.receipts: ReadReceipts | None = None

    def workers(self) -> tuple[Deliverer, MediaFetcher, ReadReceipts]:
        """The Graph API workers; built when the consumers start (the database exists then)."""
        if self.deliverer is None or self.media_fetcher is None or self.receipts is None:
            assert self.db is not None and self.graph is not None
            s = self.ingest_settings
            limiter = RateLimiter(s.send_rate_per_number)
            self.receipts = ReadReceipts(self.db, s, self.graph, self.cipher)
            self.deliverer = Deliverer(self.db, s, self.graph, self.cipher, limiter, self.receipts)
            self.media_fetcher = MediaFetcher(self.db, s, self.graph, self.cipher)
        return self.deliverer, self.media_fetcher, self.receipts

    async def start(self) -> None:
        s = self.ingest_settings
        self.graph = GraphClient(
            s.whatsapp_graph_url,
            timeout_s=s.graph_timeout_s,
            max_connections=s.graph_max_connections,
        )
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
