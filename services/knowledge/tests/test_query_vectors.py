"""The query-vector cache the search asks before hopping to a thread."""

import numpy as np
import pytest

from knowledge.query_vectors import QueryVectors


def test_a_query_is_encoded_once_and_then_answered_from_the_cache() -> None:
    calls: list[str] = []

    def encode(query: str) -> np.ndarray:
        calls.append(query)
        return np.full(3, len(query), dtype=np.float32)

    vectors = QueryVectors(encode, maxsize=2)
    assert vectors.cached("refunds") is None
    first = vectors("refunds")
    assert vectors.cached("refunds") is first
    assert vectors("refunds") is first
    assert calls == ["refunds"]
    with pytest.raises(ValueError):
        first[0] = 0.0  # shared by every caller: read-only


def test_the_least_recently_used_query_goes_first() -> None:
    vectors = QueryVectors(lambda q: np.zeros(2, dtype=np.float32), maxsize=2)
    vectors("a")
    vectors("b")
    assert vectors.cached("a") is not None  # "a" is now the most recent
    vectors("c")
    assert vectors.cached("b") is None
    assert vectors.cached("a") is not None and vectors.cached("c") is not None
    vectors.cache_clear()
    assert vectors.cached("a") is None
