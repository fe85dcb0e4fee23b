"""Read receipts: the customer's message marked read, with the typing indicator, while the AI
prepares its answer (a hint on ingest.ai-replies' queue)."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import structlog
from prometheus_client import Counter

from common.db import Database
from common.events import ReplyPreparingV1
from ingest import repository
from ingest.crypto import TokenCipher
from ingest.graph import GraphClient
from ingest.settings import IngestSettings

log = structlog.get_logger(__name__)

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

    def in_flight(self, conversation_id: uuid.UUID) -> bool:
        """A read receipt is in flight for this conversation (in this process)."""
        return conversation_id in self._in_flight

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
            # At most once: a redelivered hint is not shown again. The claim, the channel and
            # whether it was answered already: one statement.
            row = await repository.claim_receipt_target(
                session,
                READ_RECEIPTS_CONSUMER,
                event.event_id,
                tenant_id=event.tenant_id,
                message_id=p.message_id,
                conversation_id=p.conversation_id,
                since=event.occurred_at,
            )
        if not row.claimed:
            return "duplicate"
        if row.phone_number_id is None:
            return "unknown_message"
        if row.access_token_encrypted is None:
            return "sandbox"  # nothing to tell Meta: the simulator plays the customer
        # Answered already (a late hint): read, but no typing indicator to outlive the answer.
        typing = not row.replied
        await self.graph.mark_read(
            phone_number_id=row.phone_number_id,
            token=self.cipher.decrypt(row.access_token_encrypted),
            wamid=p.wamid,
            typing=typing,
            timeout_s=self.timeout_s,
        )
        return "sent" if typing else "read_only"
