"""The WebGLM pipeline: retrieve -> rank -> generate -> score.

``WebGLM`` wires the stages together through the frozen types in
:mod:`webglm.types`. It owns the HTTP clients, loads models on first use (or in
:meth:`WebGLM.load`), keeps per-item failures as data in the :class:`Trace`, and
only raises for whole-stage failures and bad input.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from typing import AsyncContextManager, AsyncIterator, Callable, Mapping, Sequence

from .config import WebGLMConfig
from .errors import ConfigError, InputError
from .messages import message
from .text import detect_language, language_name
from .types import (
    EXTRACTIVE_FALLBACK,
    Answer,
    Candidate,
    CandidateDone,
    Event,
    Failure,
    FinalEvent,
    Reference,
    ReferencesReady,
    ScoredAnswer,
    TokenEvent,
    Trace,
)

ABSTAIN_TEXT = message("abstain")
MAX_QUESTION_CHARS = 2000


def _empty_retrieval(hits: int, failures: Sequence[Failure], lang: str = "en") -> tuple[str, str]:
    """(answer text in ``lang``, trace event) when web retrieval produced no passage at all:
    say why, rather than blaming relevance when there was nothing to judge."""
    search_failed = [f for f in failures if f.stage == "search"]
    if not hits and search_failed:
        why = "; ".join(f"{f.kind}: {f.detail}" for f in search_failed[:3])[:300]
        return message("search_failed", lang, why=why), f"abstained: web search failed ({why})"
    if not hits:
        return message("no_results", lang), "abstained: the web search returned no results"
    return message("unreadable", lang, hits=hits), f"abstained: none of the {hits} search results could be read"


def validate_question(question: str) -> str:
    """Normalise whitespace; reject empty or absurdly long questions."""
    if not isinstance(question, str):
        raise InputError(f"question must be a string, got {type(question).__name__}")
    q = " ".join(question.split())
    if not q:
        raise InputError("the question is empty", hint="ask something, e.g. webglm ask \"What is WebGLM?\"")
    if len(q) > MAX_QUESTION_CHARS:
        raise InputError(f"the question is {len(q)} characters long", hint=f"keep it under {MAX_QUESTION_CHARS}")
    return q


def _note_instructions(refs: Sequence[Reference], best: Candidate, tb: "_TraceBuilder") -> None:
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


class _TraceBuilder:
    """Mutable collector turned into a frozen Trace at the end of a request."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.failures: list[Failure] = []
        self.counters: dict[str, float] = {}
        self.events: list[str] = []
        self.models: dict[str, str] = {}
        self.budgets: dict[str, float] = {}
        self.abstain: tuple[str, str] | None = None  # (answer text, event) when the reason is not relevance
        self.language = "en"
        self.reference_languages: tuple[str, ...] = ()
        self._start = time.perf_counter()

    def timed(self, stage: str) -> "_Timer":
        return _Timer(self, stage)

    def freeze(self) -> Trace:
        self.timings["total"] = time.perf_counter() - self._start
        return Trace(dict(self.timings), tuple(self.failures), dict(self.budgets), dict(self.models),
                     dict(self.counters), tuple(self.events), self.language, self.reference_languages)


class _Timer:
    def __init__(self, builder: _TraceBuilder, stage: str) -> None:
        self.builder, self.stage = builder, stage

    def __enter__(self) -> "_Timer":
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self.t0
        self.builder.timings[self.stage] = self.builder.timings.get(self.stage, 0.0) + elapsed


# A generation gate: called once per request, its context is held while the generator runs;
# entering it yields counters (queue wait, depth) that go into the answer's trace.
Gate = Callable[[], AsyncContextManager[Mapping[str, float]]]


@contextlib.asynccontextmanager
async def _gated(gate: Gate | None, tb: "_TraceBuilder"):
    if gate is None:
        yield
        return
    async with gate() as counters:
        tb.counters.update(counters)
        yield


class _RecordedOnlyEngine:
    """Stands in for a search engine during replay: the retriever reads recorded results."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def search(self, query: str, k: int):
        from .errors import SearchError

        raise SearchError("replay mode makes no live search", stage="search")


class WebGLM:
    """Answer questions with cited answers from the web or a local corpus.

    >>> glm = WebGLM(corpus="docs")            # doctest: +SKIP
    >>> print(glm.answer("How does webglm rank passages?").text)  # doctest: +SKIP

    Every collaborator can be injected (``engine``, ``encoder``, ``backend``,
    ``reward_model``); what is not injected is built from ``config`` on first use.
    """

    def __init__(
        self,
        config: WebGLMConfig | None = None,
        *,
        corpus: str | os.PathLike | None = None,
        engine=None,
        encoder=None,
        backend=None,
        reward_model=None,
        page_store=None,
        replay: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config or WebGLMConfig()
        self.corpus_path = corpus
        self._engine = engine
        self._encoder = encoder
        self._backend = backend
        self._reward_model = reward_model
        self.page_store = page_store
        self.replay = replay
        self.progress = progress or (lambda msg: None)
        self._corpus = None
        self._ranker = None
        self._writer = None
        self._clients = None
        self._retriever = None
        self.load_seconds: dict[str, float] = {}

    # --- loading --------------------------------------------------------------

    @property
    def encoder(self):
        if self._encoder is None:
            from .contriever import make_encoder

            self._encoder = make_encoder(self.config.rank)
        return self._encoder

    def _load_encoder(self) -> None:
        if "encoder" in self.load_seconds:
            return
        t0 = time.perf_counter()
        self.progress(f"loading encoder {getattr(self.encoder, 'model_id', '')}")
        if hasattr(self.encoder, "load"):
            self.encoder.load()
        self.load_seconds["encoder"] = time.perf_counter() - t0

    @property
    def writer(self):
        if self._writer is None:
            from .generator import AnswerWriter, make_backend

            from .generator.support import make_support

            backend = self._backend if self._backend is not None else make_backend(self.config.generate)
            support = make_support(self.config.citation, self.config.generate, self.encoder)
            self._writer = AnswerWriter(backend, self.config.generate, support, self.encoder)
        return self._writer

    def _load_writer(self) -> None:
        if "generator" in self.load_seconds:
            return
        t0 = time.perf_counter()
        self.progress(f"loading generator {getattr(self.writer, 'model_id', '')}")
        self.writer.load()
        self.load_seconds["generator"] = time.perf_counter() - t0

    @property
    def reward_model(self):
        if self._reward_model is None:
            from .scorer import load_reward_model

            self._reward_model = load_reward_model(self.config.scorer)
        return self._reward_model

    def _load_corpus(self) -> None:
        if self._corpus is not None or self.corpus_path is None:
            return
        from .corpus import open_corpus

        self._load_encoder()
        t0 = time.perf_counter()
        self._corpus = open_corpus(self.corpus_path, self.encoder, self.config, progress=self.progress)
        self.load_seconds["corpus"] = time.perf_counter() - t0

    def load(self) -> "WebGLM":
        """Load every model and open the corpus now (otherwise done on first use)."""
        self._load_encoder()
        self._load_corpus()
        self._load_writer()
        if self.config.scorer.candidates > 1:
            t0 = time.perf_counter()
            if hasattr(self.reward_model, "load"):
                self.reward_model.load()
            self.load_seconds["scorer"] = time.perf_counter() - t0
        return self

    def _trace(self, question: str) -> _TraceBuilder:
        tb = _TraceBuilder()
        lang = self.config.generate.language
        tb.language = detect_language(question) if lang == "auto" else lang
        return tb

    # --- retrieval --------------------------------------------------------------

    def _web_retriever(self):
        if self._retriever is None:
            from .retriever import WebRetriever, make_clients, make_engine

            cfg = self.config
            self._clients = make_clients(cfg.fetch, cfg.search)
            if self._engine is not None:
                engine = self._engine
            elif self.replay:  # replay reads recorded results under the engine's name; no live search
                engine = _RecordedOnlyEngine(cfg.search.engine)
            else:
                engine = make_engine(cfg.search.engine, cfg.search, self._clients[0])
            kwargs = {"page_store": self.page_store}
            if self.replay:
                kwargs["replay"] = True
            self._retriever = WebRetriever(cfg.search, cfg.fetch, cfg.chunk, engine=engine,
                                           fetch_client=self._clients[1], **kwargs)
        return self._retriever

    async def _references(self, question: str, tb: _TraceBuilder) -> tuple[tuple[Reference, ...], bool]:
        """Retrieve passages and rank them into numbered references."""
        if self.corpus_path is not None:
            await asyncio.to_thread(self._load_corpus)
            opened = self._corpus
            tb.failures.extend(opened.failures)
            with tb.timed("rank"):
                ranking = await asyncio.to_thread(opened.index.rank, question, self.config.rank)
            _note_encoder(tb.models, self.encoder)
            tb.counters["passages"] = float(len(opened.index))
        else:
            retriever = self._web_retriever()
            retrieval = await retriever.retrieve(question)
            tb.timings.update(retrieval.timings)
            tb.failures.extend(retrieval.failures)
            tb.events.extend(retrieval.events)
            tb.counters["hits"] = float(len(retrieval.hits))
            tb.counters["passages"] = float(len(retrieval.passages))
            tb.counters["pages_failed"] = float(sum(1 for f in retrieval.failures if f.stage == "fetch"))
            tb.counters["pages_fetched"] = float(len({p.url for p in retrieval.passages if p.source == "web"}))
            tb.budgets.update(page_timeout=self.config.fetch.page_timeout,
                              stage_budget=self.config.fetch.stage_budget)
            if not retrieval.passages:
                tb.abstain = _empty_retrieval(len(retrieval.hits), retrieval.failures, tb.language)
                return (), True
            await asyncio.to_thread(self._load_encoder)
            _note_encoder(tb.models, self.encoder)
            if self._ranker is None:
                from .contriever import Ranker

                self._ranker = Ranker(self.encoder, self.config.rank)
            with tb.timed("rank"):
                ranking = await asyncio.to_thread(self._ranker.rank, question, retrieval.passages)
        for key, value in getattr(ranking, "counters", {}).items():
            tb.counters[f"rank_{key}"] = float(value)
        tb.counters["references"] = float(len(ranking.references))
        return tuple(ranking.references), bool(ranking.abstained or not ranking.references)

    # --- generation and selection -----------------------------------------------

    def _select(self, question: str, candidates: Sequence[Candidate], tb: _TraceBuilder) -> list[ScoredAnswer]:
        if len(candidates) == 1:
            c = candidates[0]
            return [ScoredAnswer(c, 0.0, c.citation_precision or 0.0, 0.0)]
        from .scorer import select_best

        tb.models["scorer"] = getattr(self.reward_model, "model_id", "")
        with tb.timed("score"):
            return list(select_best(question, candidates, self.reward_model, self.config.scorer))

    def _finish(self, question: str, refs: tuple[Reference, ...], scored: list[ScoredAnswer],
                tb: _TraceBuilder) -> Answer:
        best = scored[0].candidate
        tb.counters["tokens_in"] = float(sum(s.candidate.tokens_in for s in scored))
        tb.counters["tokens_out"] = float(sum(s.candidate.tokens_out for s in scored))
        if best.citation_precision is not None:
            tb.counters["citation_precision"] = best.citation_precision
        if best.citation_recall is not None:
            tb.counters["citation_recall"] = best.citation_recall
        tb.counters["flagged_sentences"] = float(sum(1 for s in best.support if s.flagged))
        _note_instructions(refs, best, tb)
        if best.finish_reason == EXTRACTIVE_FALLBACK:
            tb.counters["extractive_fallback"] = 1.0
            why = ("no sentence of the generated answer was supported by a reference" if best.raw_text
                   else f"the generator does not write {language_name(tb.language)}")
            tb.events.append(f"fallback: {why}; answered with the best-supported reference sentences")
        if best.support_probability is not None:
            tb.counters["support_probability"] = best.support_probability
        return Answer(question, best.text, refs, tuple(scored), tb.freeze(), False, best.citations, best.support)

    def _abstain(self, question: str, refs: tuple[Reference, ...], tb: _TraceBuilder) -> Answer:
        text, event = tb.abstain or (message("abstain", tb.language),
                                     "abstained: no reference passed the relevance threshold")
        tb.events.append(event)
        return Answer(question, text, refs, (), tb.freeze(), True, ())

    async def aanswer_with_references(self, question: str, references: Sequence[Reference]) -> Answer:
        """Generate (and select) an answer from given references: no retrieval."""
        question = validate_question(question)
        tb = self._trace(question)
        refs = tuple(references)
        if not refs:
            return self._abstain(question, refs, tb)
        return await self._generate(question, refs, tb)

    async def _generate(self, question: str, refs: tuple[Reference, ...], tb: _TraceBuilder,
                        gate: Gate | None = None) -> Answer:
        tb.reference_languages = tuple(detect_language(r.passage.text, tb.language) for r in refs)
        await asyncio.to_thread(self._load_writer)
        tb.models["generator"] = getattr(self.writer, "model_id", "")
        n = self.config.scorer.candidates
        async with _gated(gate, tb):
            with tb.timed("generate"):
                candidates = await asyncio.to_thread(self.writer.write, question, refs, n)
        scored = await asyncio.to_thread(self._select, question, candidates, tb)
        return self._finish(question, refs, scored, tb)

    async def aanswer(self, question: str, *, gate: Gate | None = None) -> Answer:
        """Answer ``question``: retrieve, rank, generate, score.

        ``gate``, when given, is entered around generation only (a server uses it to queue
        requests for one model while their retrieval runs concurrently)."""
        question = validate_question(question)
        tb = self._trace(question)
        refs, abstain = await self._references(question, tb)
        if abstain:
            return self._abstain(question, refs, tb)
        return await self._generate(question, refs, tb, gate)

    async def areferences(self, question: str) -> tuple[tuple[Reference, ...], Trace]:
        """Retrieve and rank only: the numbered references for ``question`` and the trace
        (empty references when nothing passed the relevance threshold)."""
        question = validate_question(question)
        tb = self._trace(question)
        refs, abstain = await self._references(question, tb)
        return (() if abstain else refs), tb.freeze()

    def answer(self, question: str) -> Answer:
        """Synchronous :meth:`aanswer` (not for use inside a running event loop)."""
        return asyncio.run(self._run_and_close(self.aanswer(question)))

    def answer_with_references(self, question: str, references: Sequence[Reference]) -> Answer:
        return asyncio.run(self._run_and_close(self.aanswer_with_references(question, references)))

    async def _run_and_close(self, coro):
        # asyncio.run closes its loop: clients bound to it must be closed and rebuilt.
        try:
            return await coro
        finally:
            await self.aclose()

    async def stream(self, question: str, *, gate: Gate | None = None) -> AsyncIterator[Event]:
        """Yield events: references ready, tokens of the first candidate, candidates, final answer.

        Closing the iterator early (or cancelling its task) stops the generation. ``gate`` as
        in :meth:`aanswer`."""
        question = validate_question(question)
        tb = self._trace(question)
        refs, abstain = await self._references(question, tb)
        yield ReferencesReady(refs)
        if abstain:
            yield FinalEvent(self._abstain(question, refs, tb))
            return
        tb.reference_languages = tuple(detect_language(r.passage.text, tb.language) for r in refs)
        await asyncio.to_thread(self._load_writer)
        tb.models["generator"] = getattr(self.writer, "model_id", "")
        candidates: list[Candidate] = []
        n = self.config.scorer.candidates
        async with _gated(gate, tb):
            t0 = time.perf_counter()
            async for event in self.writer.astream(question, refs, n):
                if isinstance(event, TokenEvent):
                    tb.timings.setdefault("first_token", time.perf_counter() - t0)
                    yield event
                elif isinstance(event, CandidateDone):
                    candidates.append(event.candidate)
                    yield event
            if n > len(candidates):
                # the rest of the same n: seeds continue after the streamed candidate's, so the
                # candidates (and the choice) are those aanswer() makes
                more = await asyncio.to_thread(self.writer.write, question, refs, n, len(candidates))
                for i, c in enumerate(more, start=len(candidates)):
                    yield CandidateDone(c, i)
                candidates.extend(more)
            tb.timings["generate"] = time.perf_counter() - t0
        if not candidates:
            raise ConfigError("the generator produced no candidate")
        scored = await asyncio.to_thread(self._select, question, candidates, tb)
        yield FinalEvent(self._finish(question, refs, scored, tb))

    # --- lifecycle -------------------------------------------------------------

    async def aclose(self) -> None:
        """Close HTTP clients (models stay loaded)."""
        if self._clients is not None:
            for client in self._clients:
                await client.aclose()
            self._clients = None
            self._retriever = None
        backend = self._backend or (self._writer and self._writer.backend)
        # Backends that hold connections close them with ``aclose`` (async) or ``close``
        # (the OpenAI backend's sync httpx client); model backends define neither.
        aclose = getattr(backend, "aclose", None)
        if aclose is not None:
            await aclose()
        elif callable(getattr(backend, "close", None)):
            backend.close()

    async def __aenter__(self) -> "WebGLM":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def corpus_info(self) -> dict:
        if self._corpus is None:
            return {}
        return {"location": self._corpus.location, "passages": len(self._corpus.index),
                "files_read": self._corpus.files_read, "from_cache": self._corpus.from_cache}


def _note_encoder(models: dict, encoder: object) -> None:
    """Record the encoder's id, and how it ran (``onnx/int8``) once it is loaded."""
    models["encoder"] = getattr(encoder, "model_id", "")
    runtime = getattr(encoder, "runtime", "")
    if runtime:
        models["encoder_runtime"] = f"{runtime}/{'int8' if getattr(encoder, 'quantized', False) else 'fp32'}"


def replace_config(cfg: WebGLMConfig, **sections) -> WebGLMConfig:
    """Convenience: ``replace_config(cfg, rank=dataclasses.replace(cfg.rank, top_k=3))``."""
    return dataclasses.replace(cfg, **sections)


__all__ = ["WebGLM", "validate_question", "ABSTAIN_TEXT"]
