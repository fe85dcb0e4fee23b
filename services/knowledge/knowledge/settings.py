from pydantic import AliasChoices, Field

from common.settings import CommonSettings


class KnowledgeSettings(CommonSettings):
    service_name: str = "knowledge"

    # Uploads: bigger files get 413; so does an upload beyond the business's quota (its
    # number of documents, or their bytes in all).
    max_upload_bytes: int = 25 * 1024 * 1024
    tenant_max_documents: int = 1000
    tenant_max_document_bytes: int = 1024 * 1024 * 1024

    # Fair indexing: when parsers are busy, the next free one goes to the business with the
    # fewest documents being parsed (round robin), not to the oldest message. A business
    # with more than `index_tenant_queue` documents already waiting in this process has the
    # rest deferred (`index_defer_s`, through the bus's delay queues), so one backlog cannot
    # fill the consumer's prefetch and hide other businesses' uploads behind it.
    index_tenant_queue: int = 16
    index_defer_s: float = 10.0

    # Chunking (characters): a chunk closes after `chunk_soft_chars`, never exceeds
    # `chunk_max_chars`; an over-long passage is split with `chunk_overlap_chars` of overlap.
    chunk_max_chars: int = 1500
    chunk_soft_chars: int = 1000
    chunk_overlap_chars: int = 150

    # Parsing runs in a pool of worker processes (CPU-bound, off the event loop). A worker
    # holds a lease on the document, renewed while it parses; an expired lease means the
    # worker died, and the sweeper hands the document to another attempt or fails it.
    parse_workers: int = 1
    # Per document, in its worker: wall-clock deadline, and the memory (address space) the
    # parse may add to the warmed worker; beyond either the worker's process group is
    # killed and the document fails ("parsing timed out" / "too large to parse").
    parse_timeout_s: float = 120.0
    parse_memory_mb: int = 1024
    # DOCX/XLSX are ZIP archives: refused (failed) when they unpack to more than this, or
    # when a part over 1 MB is compressed more than `parse_zip_max_ratio` times.
    parse_zip_max_mb: int = 200
    parse_zip_max_ratio: int = 100
    index_lease_s: float = 60.0
    index_max_attempts: int = 3
    sweep_interval_s: float = 15.0

    # Search: the paraphrase signals (multilingual sentence embeddings, USE and e5, no torch).
    embeddings_enabled: bool = True
    # Memory for the per-tenant embedding matrices and keyword indexes (one LRU by bytes;
    # ~3.5 KiB per chunk of vectors (USE 2 KiB, e5 1.5 KiB) and ids + ~5 bytes per distinct
    # word of its passage, so 192 MiB holds ~50,000 chunks of 1,000-1,500 characters). With
    # e5 the process needs ~0.7 GB: ~250 MB with the models loaded (+ e5's 72 MB mapped),
    # the cache, and briefly ~1.5 x a cold tenant's matrices on top.
    # VECTOR_CACHE_MB, its name when it held the embeddings alone, still sets it.
    knowledge_cache_mb: int = Field(
        192, validation_alias=AliasChoices("knowledge_cache_mb", "vector_cache_mb")
    )
    search_candidates: int = 50
    # The e5 vectors are computed after indexing, in the parser pool: chunks per batch (an
    # upload waits for one batch, ~0.5 s a chunk) and the pause when nothing is left to embed.
    e5_backfill_batch: int = 8
    # A document of at most this many chunks gets its e5 vectors while it is indexed (a few
    # seconds more), so a short FAQ is fully searchable the moment it is `indexed`.
    e5_inline_max_chunks: int = 8
    e5_backfill_idle_s: float = 5.0
    # At most this many full-text matches are read per search (see
    # repository.full_text_candidates): a question of common words matches thousands.
    search_match_cap: int = 500
