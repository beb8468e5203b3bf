"""The small protocols each backend implements. Fakes live in :mod:`webglm.testing`.

Importing this module does not import torch, numpy-heavy model code or httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence, runtime_checkable

from .types import Candidate, Page, Passage, PassageKind, SearchHit

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np


@runtime_checkable
class SearchEngine(Protocol):
    """A web (or local) search provider."""

    name: str

    async def search(self, query: str, k: int) -> list[SearchHit]:
        """Return up to ``k`` hits, best first. Raise ``SearchError`` on failure."""
        ...


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into dense vectors (float32, shape ``(len(texts), dim)``)."""

    model_id: str

    def encode(self, texts: Sequence[str], kind: PassageKind) -> "np.ndarray":
        ...


@runtime_checkable
class RewardModel(Protocol):
    """Scores answers to a question; higher is more preferred by people."""

    model_id: str

    def score(self, question: str, answers: Sequence[str]) -> list[float]:
        ...


@runtime_checkable
class CorpusStore(Protocol):
    """Where a local corpus lives: the FAISS + BM25 index folder, or a Milvus collection.

    ``source`` is a document's location without the line anchor (``file:docs/guide.md``).
    ``rank`` is the hybrid search: lexical (BM25) and dense candidates, fused on one absolute
    scale and returned as a ``webglm.contriever.Ranking`` of numbered references.
    """

    def add(self, passages: Sequence[Passage]) -> int:
        """Encode and store passages; returns how many were added."""
        ...

    def delete_source(self, source: str) -> int:
        """Remove every passage of one document; returns how many were removed."""
        ...

    def rank(self, question: str, rank=None):
        """Hybrid search for ``question`` (``rank``: a RankConfig overriding the store's)."""
        ...

    def count(self) -> int:
        """Passages stored."""
        ...


@runtime_checkable
class PageStore(Protocol):
    """A cache of fetched pages and search results (record / replay runs)."""

    def get_page(self, url: str) -> Page | None: ...

    def put_page(self, page: Page) -> None: ...

    def get_hits(self, engine: str, query: str) -> list[SearchHit] | None: ...

    def put_hits(self, engine: str, query: str, hits: Sequence[SearchHit]) -> None: ...


__all__ = ["SearchEngine", "Encoder", "RewardModel", "PageStore", "CorpusStore", "Candidate"]
