from typing import ClassVar

from pydantic import SecretStr

from common.settings import CommonSettings

# A development key only: production refuses it (dev_secret_fields).
DEV_CHANNEL_TOKEN_KEY = "G_b8rqFXAYaFQdSB_WF-pRiVWEJrO7JTld96RQpFHuU="


class IngestSettings(CommonSettings):
    dev_secret_fields: ClassVar[tuple[str, ...]] = ("internal_token", "channel_token_key")

    service_name: str = "ingest"
    # Inbound messages are stored in batches of up to this many (one transaction each).
    bus_prefetch: int = 200
    whatsapp_graph_url: str = "https://graph.facebook.com/v21.0"
    # Fernet key (urlsafe base64, 32 bytes) that encrypts channel access tokens at rest.
    channel_token_key: SecretStr = SecretStr(DEV_CHANNEL_TOKEN_KEY)

    # A new conversation starts with the AI answering (docs/api.md: a business starts with it on).
    ai_enabled_default: bool = True
    # A customer writing after `resolved` reopens that conversation (false: a new one starts).
    reopen_resolved_conversations: bool = True
    # How many earlier messages `conversation.message.stored.v1` carries for the responder.
    history_messages: int = 20
    # Meta's customer-service window; free text outside it is refused.
    service_window_hours: float = 24.0

    # Simulated customer messages per business per minute (each can cost an LLM answer);
    # past it a 429 with Retry-After. 0: unlimited.
    simulate_rate_per_min: int = 120

    # Graph API client.
    graph_timeout_s: float = 10.0
    graph_max_connections: int = 100
    # Meta's default throughput per number (messages per second).
    send_rate_per_number: float = 80.0
    # Read receipt + typing indicator while the AI prepares an answer: one try, this long at
    # most; a reply waits at most this long for it, so the indicator never follows the reply.
    read_receipt_timeout_s: float = 2.0
    # Attempts per outbound message (the bus's delay tiers space them), then failed.
    delivery_max_attempts: int = 5
    # Meta accepted a send but the database refused its record: keep trying this long
    # (in-process, with backoff) before handing the job back to the bus.
    delivery_record_retry_s: float = 30.0
    # A conversation's messages go out in order; a message queued longer than this (stuck)
    # no longer holds the later ones back.
    delivery_order_wait_s: float = 900.0

    # Inbound media: fetched in the background, capped, then served to the dashboard.
    media_max_bytes: int = 25 * 1024 * 1024
    media_max_attempts: int = 3
    # Downloads this process runs at once (the media consumer's prefetch): each holds about
    # one chunk in memory, streamed to the database piece by piece.
    media_prefetch: int = 4
    media_chunk_bytes: int = 256 * 1024

    # Live stream.
    sse_heartbeat_s: float = 15.0
    # Recent events kept per tenant so a reconnect with Last-Event-ID misses nothing.
    sse_replay_events: int = 500
    # A tenant's replay buffer is dropped after this long without an event (and no client).
    sse_buffer_idle_s: float = 600.0
    sse_client_queue: int = 1000

    # Team inbox: a member counts as online (for round-robin assignment) when they called the
    # API or held the live stream open within this many seconds.
    inbox_presence_s: float = 300.0
