"""In-memory LRU cache of embeddings keyed by model and text hash.

Repeated passages are common (the same page fetched for two questions, a corpus
re-ranked many times, a question asked twice), and on two CPU cores an encoder
pass is the most expensive step of ranking, so a hit must cost nothing.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np


def text_key(model_key: str, kind: str, text: str) -> tuple[str, str, bytes]:
    """Cache key: the model (incl. quantization), query/passage side, and a digest of the text."""
    return (model_key, kind, hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest())


class EmbeddingCache:
    """A bounded least-recently-used map from :func:`text_key` keys to float32 vectors."""

    def __init__(self, max_items: int = 50_000):
        self.max_items = max_items
        self._items: OrderedDict[tuple[str, str, bytes], np.ndarray] = OrderedDict()
        self.hits = 0
        self.misses = 0
        # Concurrent requests rank in several threads; OrderedDict reordering is not atomic.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: tuple[str, str, bytes]) -> np.ndarray | None:
        """Return the cached vector (and mark it recently used), or None."""
        with self._lock:
            vec = self._items.get(key)
            if vec is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return vec

    def put(self, key: tuple[str, str, bytes], vec: np.ndarray) -> None:
        """Store a vector, evicting the least recently used ones beyond ``max_items``."""
        if self.max_items <= 0:
            return
        with self._lock:
            self._items[key] = vec
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
