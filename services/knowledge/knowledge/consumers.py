"""knowledge's subscription: index each uploaded document (asynchronously, in a worker)."""

from common.bus import PermanentError, Subscription
from common.events import DocumentUploadedV1
from knowledge.indexing import Indexer

INDEX_DOCUMENTS = "knowledge.index-documents"
# Jobs are ids (the bytes stay in the database), so holding many is cheap, and it lets
# other businesses' jobs reach the fair slots past one business's waiting ones.
INDEX_PREFETCH = 64


def subscriptions(indexer: Indexer) -> list[Subscription]:
    """knowledge's consumers, given the indexer (built by knowledge.main, the composition
    root). The consumer names are the queue names: operations and dead letters know them."""

    async def on_document_uploaded(event: DocumentUploadedV1) -> None:
        # Idempotent through the document's status and lease, not a processed_events claim:
        # a redelivery finds it indexed (or held by a live worker) and does nothing.
        if event.tenant_id is None:
            raise PermanentError("document.uploaded.v1 without a tenant")
        await indexer.index(event.tenant_id, event.payload.document_id)

    return [
        Subscription.of(
            INDEX_DOCUMENTS, {DocumentUploadedV1: on_document_uploaded}, prefetch=INDEX_PREFETCH
        )
    ]
