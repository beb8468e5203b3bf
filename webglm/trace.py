"""Per-request bookkeeping of the pipeline: the trace builder, stage timers, the generation
gate and the abstention texts for empty retrievals."""

from __future__ import annotations

import contextlib
import time
from typing import AsyncContextManager, AsyncIterator, Callable, Mapping, Sequence

from .messages import message
from .types import Candidate, Failure, Reference, Trace


def empty_retrieval(hits: int, failures: Sequence[Failure], lang: str = "en") -> tuple[str, str]:
    """(answer text in ``lang``, trace event) when web retrieval produced no passage at all:
    say why, rather than blaming relevance when there was nothing to judge."""
    search_failed = [f for f in failures if f.stage == "search"]
    if not hits and search_failed:
        why = "; ".join(f"{f.kind}: {f.detail}" for f in search_failed[:3])[:300]
        return message("search_failed", lang, why=why), f"abstained: web search failed ({why})"
    if not hits:
        return message("no_results", lang), "abstained: the web search returned no results"
    return message("unreadable", lang, hits=hits), f"abstained: none of the {hits} search results could be read"


def note_instructions(refs: Sequence[Reference], best: Candidate, tb: "TraceBuilder") -> None:
    """Name the references that give orders to the model, and count the sentences that obeyed."""
    from .injection import find_instructions

    for ref in refs:
        found = find_instructions(ref.passage.text)
        if found:
            tb.events.append(f"injection: reference [{ref.index}] gives instructions to the model "
                             f"(quoted as data, not obeyed): {found[0].sentence[:120]!r}")
    obeying = sum(1 for s in best.support if s.obeys)
    if obeying:
        tb.counters["obeying_sentences"] = float(obeying)


class TraceBuilder:
    """Mutable collector turned into a frozen Trace at the end of a request."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.failures: list[Failure] = []
        self.counters: dict[str, float] = {}
        self.events: list[str] = []
        self.models: dict[str, str] = {}
        self.budgets: dict[str, float] = {}
        self.abstain: tuple[str, str] | None = None  # (answer text, event) when the reason is not relevance
        self.stage = ""  # the stage running now (named in a deadline error)
        self.language = "en"
        self.reference_languages: tuple[str, ...] = ()
        self._start = time.perf_counter()

    def timed(self, stage: str) -> "Timer":
        return Timer(self, stage)

    def freeze(self) -> Trace:
        self.timings["total"] = time.perf_counter() - self._start
        return Trace(dict(self.timings), tuple(self.failures), dict(self.budgets), dict(self.models),
                     dict(self.counters), tuple(self.events), self.language, self.reference_languages)


class Timer:
    def __init__(self, builder: TraceBuilder, stage: str) -> None:
        self.builder, self.stage = builder, stage

    def __enter__(self) -> "Timer":
        self.builder.stage = self.stage
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self.t0
        self.builder.timings[self.stage] = self.builder.timings.get(self.stage, 0.0) + elapsed


# A generation gate: called once per request, its context is held while the generator runs;
# entering it yields counters (queue wait, depth) that go into the answer's trace.
Gate = Callable[[], AsyncContextManager[Mapping[str, float]]]


@contextlib.asynccontextmanager
async def gated(gate: Gate | None, tb: "TraceBuilder") -> AsyncIterator[None]:
    if gate is None:
        yield
        return
    async with gate() as counters:
        tb.counters.update(counters)
        yield


__all__ = ["TraceBuilder", "Timer", "Gate", "gated", "empty_retrieval", "note_instructions"]
