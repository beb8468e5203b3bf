"""Fakes shipped with the library, for tests of code that embeds webglm.

They are deterministic and dependency-light (numpy only), but behave like the
real thing: the hash encoder gives lexical-overlap similarity, the fake engine
serves configurable hits, the length reward prefers longer answers, the memory page
store records and replays like the sqlite one (without persistence). ``EchoBackend``, the
fake generator backend (it quotes the references, citing them), is importable from here too.
"""

from __future__ import annotations

import hashlib
import re
from typing import Sequence

import numpy as np

from .errors import SearchError
from .types import Failure, Page, PassageKind, SearchHit

_WORD = re.compile(r"\w+", re.UNICODE)


class HashEncoder:
    """Feature-hashing bag-of-words encoder: cosine similarity = lexical overlap."""

    def __init__(self, dim: int = 256):
        self.dim = dim
        self.model_id = f"hash-{dim}"
        self.calls = 0

    def load(self) -> "HashEncoder":
        return self

    def encode(self, texts: Sequence[str], kind: PassageKind = "passage") -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


class FakeSearchEngine:
    """Serves fixed hits for every query; can be told to fail or return nothing."""

    def __init__(self, hits: Sequence[SearchHit] = (), *, name: str = "fake", fail: str = ""):
        self.name = name
        self._hits = list(hits)
        self.fail = fail
        self.queries: list[str] = []

    async def search(self, query: str, k: int) -> list[SearchHit]:
        self.queries.append(query)
        if self.fail:
            raise SearchError(f"{self.name}: {self.fail}", stage="search")
        return self._hits[:k]


class LengthRewardModel:
    """The "longer answer wins" baseline as a reward model."""

    model_id = "length-baseline"

    def score(self, question: str, answers: Sequence[str]) -> list[float]:
        return [float(len(_WORD.findall(a))) for a in answers]


class MemoryPageStore:
    """A dict-backed :class:`~webglm.protocols.PageStore`, failures included (record / replay
    in tests; :class:`webglm.eval.RecordReplayStore` is the persistent one)."""

    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        self.hits: dict[tuple[str, str], list[SearchHit]] = {}
        self.failures: dict[str, Failure] = {}

    def get_page(self, url: str) -> Page | None:
        return self.pages.get(url)

    def put_page(self, page: Page) -> None:
        self.pages.setdefault(page.url, page)  # first write wins, as in the sqlite store

    def get_hits(self, engine: str, query: str) -> list[SearchHit] | None:
        return self.hits.get((engine, query))

    def put_hits(self, engine: str, query: str, hits: Sequence[SearchHit]) -> None:
        self.hits.setdefault((engine, query), list(hits))

    def get_failure(self, url: str) -> Failure | None:
        return self.failures.get(url)

    def put_failure(self, url: str, kind: str, detail: str = "") -> None:
        self.failures.setdefault(url, Failure(stage="fetch", kind=kind, detail=detail, url=url))


def __getattr__(name: str):
    # The fake generator lives with the real backends; it is imported on first use so that
    # this module (which the ranking package imports for HashEncoder) stays light.
    if name == "EchoBackend":
        from .generator.backends import EchoBackend

        return EchoBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
