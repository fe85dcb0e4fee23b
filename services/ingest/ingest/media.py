"""Inbound media: the customer's image, audio or document fetched from the Graph API and
stored in chunks, retried while Meta has it, marked failed when it is gone."""

import uuid

import structlog
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import Database
from ingest import repository
from ingest.crypto import TokenCipher
from ingest.graph import GraphClient, GraphError
from ingest.models import (
    Channel,
    Message,
)
from ingest.settings import IngestSettings
from ingest.summaries import emit_status_updated

log = structlog.get_logger(__name__)

MEDIA_FETCHES = Counter("ingest_media_fetches_total", "Inbound media fetches", ["outcome"])


class RetryLater(Exception):
    """A retryable failure, recorded: the bus re-delivers the job after its next delay tier."""


# Meta's pair rate limit is per recipient: its Retry-After does not pause the whole number.


class MediaFetcher:
    """Fetches an inbound message's media into `media_files`/`media_chunks`.

    The download streams into one transaction, a chunk (MEDIA_CHUNK_BYTES) per row: memory
    holds a chunk, not the file, and a download that fails or crosses MEDIA_MAX_BYTES rolls
    back, leaving nothing partial. The consumer's prefetch (MEDIA_PREFETCH) bounds how many
    run at once. A redelivered job for a stored file does nothing: the message is no longer
    `pending`, and a concurrent twin waits on the file's row and then skips."""

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
            attempts = await repository.media_fetch_attempts(session, message_id)
        media = dict(message.media)
        if channel.access_token_encrypted is None:
            await self._failed(message, media, "sandbox channel: no token to fetch media")
            return
        try:
            await self._download(
                message, media, channel.phone_number_id, channel.access_token_encrypted
            )
        except GraphError as exc:
            last = attempts + 1 >= self.settings.media_max_attempts
            if exc.retryable and not last:
                async with self.db.session() as session:
                    repository.add_media_fetch_attempt(session, message_id, str(exc))
                MEDIA_FETCHES.labels("retry").inc()
                raise RetryLater(str(exc)) from exc
            await self._failed(message, media, str(exc))

    async def _download(
        self, message: Message, media: dict[str, object], phone_number_id: str, token: str
    ) -> None:
        async with self.db.session() as session:
            # The file's row first: a concurrent fetch of the same message waits here until
            # this transaction ends, then finds the file stored (or takes over after a failure).
            claimed = await repository.claim_media_file(session, message)
            if claimed is None or not await repository.media_still_pending(session, message.id):
                return
            async with self.graph.open_media(
                media_id=str(media.get("id")),
                phone_number_id=phone_number_id,
                token=self.cipher.decrypt(token),
                max_bytes=self.settings.media_max_bytes,
            ) as download:
                seq = 0
                async for chunk in download.chunks(self.settings.media_chunk_bytes):
                    await repository.insert_media_chunk(session, message.id, seq, chunk)
                    seq += 1
            await repository.finish_media_file(
                session,
                message.id,
                size_bytes=download.size,
                mime_type=(download.mime or "")[:128] or None,
            )
            repository.add_media_fetch_attempt(session, message.id, None)
            media |= {
                "status": "stored",
                "size_bytes": download.size,
                "url": f"/api/messages/{message.id}/media",
            }
            await self._settle(session, message, media, None)
        MEDIA_FETCHES.labels("stored").inc()
        log.info("media.fetched", message_id=str(message.id), size_bytes=download.size)

    async def _failed(self, message: Message, media: dict[str, object], error: str) -> None:
        async with self.db.session() as session:
            repository.add_media_fetch_attempt(session, message.id, error)
            await self._settle(
                session, message, media | {"status": "failed", "error": error}, error
            )
        MEDIA_FETCHES.labels("failed").inc()
        log.info("media.failed", message_id=str(message.id), error=error)

    @staticmethod
    async def _settle(
        session: AsyncSession, message: Message, media: dict[str, object], error: str | None
    ) -> None:
        settled = await repository.settle_media(session, message.id, media)
        if settled is None:  # a twin settled it first: its event is the one
            return
        await emit_status_updated(
            session,
            message.tenant_id,
            message_id=message.id,
            conversation_id=message.conversation_id,
            wamid=message.wamid,
            status=message.status,
            error=error,
        )
