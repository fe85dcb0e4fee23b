"""A query's vectors, remembered: customers ask the same few questions over and over.

`functools.lru_cache` cannot be asked whether it holds a query; the search asks first, so that
a repeated question is answered on the event loop without a hop to a thread and back."""

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np


class QueryVectors:
    """A bounded, thread-safe LRU of query -> read-only vector around an encoder."""

    def __init__(self, encode: Callable[[str], np.ndarray], maxsize: int = 2048) -> None:
        self._encode = encode
        self._maxsize = maxsize
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def cached(self, query: str) -> np.ndarray | None:
        with self._lock:
            vector = self._vectors.get(query)
            if vector is not None:
                self._vectors.move_to_end(query)
            return vector

    def __call__(self, query: str) -> np.ndarray:
        """The query's vector: remembered, or encoded now (CPU: call it in a thread)."""
        vector = self.cached(query)
        if vector is not None:
            return vector
        vector = self._encode(query)
        vector.setflags(write=False)  # shared by every caller
        with self._lock:
            self._vectors[query] = vector
            self._vectors.move_to_end(query)
            while len(self._vectors) > self._maxsize:
                self._vectors.popitem(last=False)
        return vector

    def cache_clear(self) -> None:
        with self._lock:
            self._vectors.clear()
