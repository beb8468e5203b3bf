"""The small protocols each pluggable component implements. Fakes live in :mod:`webglm.testing`.

Every protocol has one or two required members, so an existing system (an Elasticsearch or
pgvector index, a hosted model) plugs in with a thin adapter::

    WebGLM(retriever=..., ranker=..., backend=..., engine=..., store=...)

Importing this module does not import torch, numpy-heavy model code or httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence, runtime_checkable

from .types import Candidate, Page, Passage, PassageKind, Reference, Retrieval, SearchHit

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from .config import RankConfig
    from .generator.backends import Completion, SamplingParams
    from .generator.prompts import Prompt


@runtime_checkable
class SearchEngine(Protocol):
    """A web (or local) search provider."""

    name: str

    async def search(self, query: str, k: int) -> list[SearchHit]:
        """Return up to ``k`` hits, best first. Raise ``SearchError`` on failure."""
        ...


@runtime_checkable
class Retriever(Protocol):
    """Finds candidate passages for a question: the web retriever (search, fetch, extract,
    chunk) is one; an existing search index of a product is another."""

    async def retrieve(self, question: str) -> Retrieval:
        """Passages to rank, with the hits, failures and timings behind them."""
        ...


@runtime_checkable
class Ranked(Protocol):
    """What a ranker returns (``webglm.contriever.Ranking`` is one)."""

    @property
    def references(self) -> Sequence[Reference]:
        """The references, numbered from 1, best first (empty when ``abstained``)."""
        ...

    @property
    def abstained(self) -> bool:
        """True when no passage was relevant enough to answer from."""
        ...


@runtime_checkable
class Ranker(Protocol):
    """Orders retrieved passages into the numbered references the answer cites."""

    def rank(self, question: str, passages: Sequence[Passage]) -> Ranked:
        """Top references for ``question`` among ``passages``. May run in a worker thread."""
        ...


@runtime_checkable
class GeneratorBackend(Protocol):
    """A language model behind the answer writer: one required method.

    Optional members, used when present: ``load()``, ``stream(prompt, params) -> Iterator[str]``
    (default: the whole completion as one piece), ``count_tokens(prompt)`` (default: UTF-8
    bytes / 3), ``n_ctx`` (default 4096), ``default_template`` (default "chat"), ``languages``
    (languages the model writes; empty: any) and ``aclose()``.
    """

    model_id: str

    def generate(self, prompt: "Prompt", n: int, params: "SamplingParams") -> "list[Completion]":
        """``n`` completions of ``prompt``; completion ``i`` sampled with ``params.seed + i``."""
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

    def rank(self, question: str, rank: "RankConfig | None" = None) -> Ranked:
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


__all__ = ["SearchEngine", "Retriever", "Ranker", "Ranked", "GeneratorBackend", "Encoder", "RewardModel",
           "PageStore", "CorpusStore", "Candidate"]
