"""knowledge's subscription: index each uploaded document (asynchronously, in a worker)."""

from collections.abc import Sequence

from common.bus import PermanentError, Subscription
from common.events import DocumentUploadedV1, Envelope
from knowledge.service import Indexer

INDEX_DOCUMENTS = "knowledge.index-documents"
# Jobs are ids (the bytes stay in the database), so holding many is cheap, and it lets
# other businesses' jobs reach the fair slots past one business's waiting ones.
INDEX_PREFETCH = 64
# Every consumer name of this service (the dead-letter replay CLI finds them here).
CONSUMERS = [INDEX_DOCUMENTS]


def subscriptions(indexer: Indexer) -> Sequence[Subscription]:
    async def on_document_uploaded(event: Envelope) -> None:
        # Idempotent through the document's status and lease, not a processed_events claim:
        # a redelivery finds it indexed (or held by a live worker) and does nothing.
        if not isinstance(event, DocumentUploadedV1) or event.tenant_id is None:
            raise PermanentError("document.uploaded.v1 without a tenant")
        await indexer.index(event.tenant_id, event.payload.document_id)

    return [
        Subscription(
            INDEX_DOCUMENTS,
            ("document.uploaded.v1",),
            on_document_uploaded,
            prefetch=INDEX_PREFETCH,
        )
    ]
