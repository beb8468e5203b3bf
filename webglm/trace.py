"""Per-request bookkeeping of the pipeline: the trace builder, stage timers, the generation
gate and the abstention texts for empty retrievals."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import AsyncContextManager, AsyncIterator, Callable, Mapping, Sequence

from .messages import message
from .text import language_name
from .types import EXTRACTIVE_FALLBACK, Answer, Candidate, Failure, Reference, ScoredAnswer, Trace

log = logging.getLogger("webglm.pipeline")


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


def finish_answer(question: str, refs: tuple[Reference, ...], scored: list[ScoredAnswer],
                  tb: TraceBuilder) -> Answer:
    """The Answer for the best of ``scored``, with the trace's counters and events filled in."""
    best = scored[0].candidate
    tb.counters["tokens_in"] = float(sum(s.candidate.tokens_in for s in scored))
    tb.counters["tokens_out"] = float(sum(s.candidate.tokens_out for s in scored))
    if best.citation_precision is not None:
        tb.counters["citation_precision"] = best.citation_precision
    if best.citation_recall is not None:
        tb.counters["citation_recall"] = best.citation_recall
    tb.counters["flagged_sentences"] = float(sum(1 for s in best.support if s.flagged))
    note_instructions(refs, best, tb)
    if best.finish_reason == EXTRACTIVE_FALLBACK:
        tb.counters["extractive_fallback"] = 1.0
        why = ("no sentence of the generated answer was supported by a reference" if best.raw_text
               else f"the generator does not write {language_name(tb.language)}")
        tb.events.append(f"fallback: {why}; answered with the best-supported reference sentences")
    if best.support_probability is not None:
        tb.counters["support_probability"] = best.support_probability
    answer = Answer(question, best.text, refs, tuple(scored), tb.freeze(), False, best.citations, best.support)
    # no question text in logs: services log to shared systems, questions can be private
    log.debug("answered in %.2f s from %d references (%d candidates, generator %s)",
              answer.trace.timings["total"], len(refs), len(scored), tb.models.get("generator", ""))
    return answer


def abstain_answer(question: str, refs: tuple[Reference, ...], tb: TraceBuilder) -> Answer:
    """The abstention Answer (why: ``tb.abstain``, or no relevant reference)."""
    text, event = tb.abstain or (message("abstain", tb.language),
                                 "abstained: no reference passed the relevance threshold")
    tb.events.append(event)
    log.debug("%s", event)
    return Answer(question, text, refs, (), tb.freeze(), True, ())


__all__ = ["TraceBuilder", "Timer", "Gate", "gated", "empty_retrieval", "note_instructions", "finish_answer",
           "abstain_answer"]
