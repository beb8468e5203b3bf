"""The WebGLM pipeline: retrieve -> rank -> generate -> score.

``WebGLM`` wires the stages together through the frozen types in
:mod:`webglm.types`. It owns the HTTP clients, loads models on first use (or in
:meth:`WebGLM.load`), keeps per-item failures as data in the :class:`Trace`, and
only raises for whole-stage failures and bad input. Every stage can be replaced by an
object implementing the matching protocol of :mod:`webglm.protocols`.
"""

from __future__ import annotations

import asyncio
import copy
import os
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Sequence, TypeVar

from .config import WebGLMConfig
from .errors import ConfigError, GenerationError, InputError
from .messages import message
from .options import NO_OPTIONS, AskOptions, Call
from .protocols import (CorpusStore, Encoder, GeneratorBackend, PageStore, Ranker, Retriever,
                        RewardModel, SearchEngine)
from .sources import Sources
from .text import detect_language
from .trace import Gate, TraceBuilder, abstain_answer, finish_answer, gated
from .types import (
    Answer,
    Candidate,
    CandidateDone,
    Event,
    FinalEvent,
    Reference,
    ReferencesReady,
    ScoredAnswer,
    SearchDone,
    SearchHit,
    TokenEvent,
    Trace,
)

T = TypeVar("T")

ABSTAIN_TEXT = message("abstain")
MAX_QUESTION_CHARS = 2000


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


class WebGLM(Sources):
    """Answer questions with cited answers from the web or a local corpus.

    >>> glm = WebGLM(corpus="docs")            # doctest: +SKIP
    >>> print(glm.answer("How does webglm rank passages?").text)  # doctest: +SKIP

    Every stage can be injected as an object implementing a protocol of
    :mod:`webglm.protocols`: ``engine`` (one :class:`SearchEngine` or several, tried in order,
    or fused with ``search.fuse``), ``retriever`` (replaces search + fetch + extraction),
    ``ranker``, ``store`` (a :class:`CorpusStore` answering instead of the web), ``encoder``,
    ``backend`` (a :class:`GeneratorBackend`), ``reward_model`` and ``page_store``. What is not
    injected is built from ``config`` (names resolved through :mod:`webglm.registry`) on first use.
    """

    def __init__(
        self,
        config: WebGLMConfig | None = None,
        *,
        corpus: str | os.PathLike[str] | None = None,
        engine: SearchEngine | Sequence[SearchEngine] | None = None,
        retriever: Retriever | None = None,
        ranker: Ranker | None = None,
        store: CorpusStore | None = None,
        encoder: Encoder | None = None,
        backend: GeneratorBackend | None = None,
        reward_model: RewardModel | None = None,
        page_store: PageStore | None = None,
        replay: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config or WebGLMConfig()
        if sum(x is not None for x in (corpus, store, retriever)) > 1:
            raise ConfigError("pass at most one of corpus, store and retriever: each is a source of passages")
        if engine is not None and (retriever is not None or corpus is not None or store is not None):
            raise ConfigError("engine is only used by the web retriever",
                              hint="drop engine, or drop corpus/store/retriever")
        self._check_names(web=corpus is None and store is None and retriever is None and engine is None
                          and not replay, backend=backend is None)
        self.corpus_path = corpus
        self._engine = engine
        self._encoder: Any = encoder
        self._backend = backend
        self._reward_model: Any = reward_model
        self.page_store = page_store
        self.replay = replay
        self.progress: Callable[[str], None] = progress or (lambda msg: None)
        self._store: Any = store
        self._user_retriever = retriever
        self._user_ranker = ranker
        self._corpus: Any = None
        self._ranker: Any = None
        self._writer: Any = None
        self._clients: Any = None
        self._retriever: Any = None
        self._workers: Any = None  # extraction processes, kept across sync calls until close()
        self.load_seconds: dict[str, float] = {}

    def _check_names(self, *, web: bool, backend: bool) -> None:
        """Unknown engine or backend names fail here, before any model loads."""
        from . import registry

        engine = self.config.search.engine
        if web and engine not in ("auto", "local") and engine not in registry.search_engines:
            raise registry.search_engines.unknown(engine, also=("auto",))
        if backend and self.config.generate.backend not in registry.backends:
            raise registry.backends.unknown(self.config.generate.backend)

    # --- loading --------------------------------------------------------------

    @property
    def encoder(self) -> Any:
        """The ranking encoder (built from ``config.rank`` on first use unless injected)."""
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
    def writer(self) -> Any:
        """The answer writer over the generator backend (built on first use)."""
        if self._writer is None:
            from .generator import AnswerWriter, make_backend
            from .generator.support import make_support

            backend = self._backend if self._backend is not None else make_backend(self.config.generate)
            support = make_support(self.config.citation, self.config.generate, self.encoder)
            self._writer = AnswerWriter(backend, self.config.generate, support, self.encoder)  # type: ignore[arg-type]
        return self._writer

    def _writer_for(self, call: Call) -> Any:
        """The writer with this call's generation settings (a shallow copy when they differ)."""
        writer = self.writer
        if call.config.generate is self.config.generate:
            return writer
        writer = copy.copy(writer)
        writer.gen = call.config.generate
        return writer

    def _load_writer(self) -> None:
        if "generator" in self.load_seconds:
            return
        t0 = time.perf_counter()
        self.progress(f"loading generator {getattr(self.writer, 'model_id', '')}")
        self.writer.load()
        self.load_seconds["generator"] = time.perf_counter() - t0

    @property
    def reward_model(self) -> Any:
        """The reward model for best-of-n (built from ``config.scorer`` on first use)."""
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

    def _trace(self, question: str, call: Call) -> TraceBuilder:
        tb = TraceBuilder()
        lang = call.config.generate.language
        tb.language = detect_language(question) if lang == "auto" else lang
        return tb

    def _call(self, options: AskOptions) -> Call:
        return Call(self.config, options)

    # --- generation and selection -----------------------------------------------

    def _select(self, question: str, candidates: Sequence[Candidate], tb: TraceBuilder,
                call: Call) -> list[ScoredAnswer]:
        if len(candidates) == 1:
            from .scorer.select import citation_quality

            c = candidates[0]  # the same citation score as best-of-n gives (F1 of precision and recall)
            return [ScoredAnswer(c, 0.0, citation_quality(c), 0.0)]
        from .scorer import select_best

        tb.models["scorer"] = getattr(self.reward_model, "model_id", "")
        with tb.timed("score"):
            return list(select_best(question, candidates, self.reward_model, call.config.scorer))

    def _finish(self, question: str, refs: tuple[Reference, ...], scored: list[ScoredAnswer],
                tb: TraceBuilder) -> Answer:
        return finish_answer(question, refs, scored, tb)

    def _abstain(self, question: str, refs: tuple[Reference, ...], tb: TraceBuilder) -> Answer:
        return abstain_answer(question, refs, tb)

    async def _generate(self, question: str, refs: tuple[Reference, ...], tb: TraceBuilder,
                        call: Call, gate: Gate | None = None) -> Answer:
        tb.reference_languages = tuple(detect_language(r.passage.text, tb.language) for r in refs)
        tb.stage = "generate"
        await asyncio.to_thread(self._load_writer)
        writer = self._writer_for(call)
        tb.models["generator"] = getattr(writer, "model_id", "")
        n = call.config.scorer.candidates
        async with gated(gate, tb):
            with tb.timed("generate"):
                candidates = await asyncio.to_thread(writer.write, question, refs, n)
        scored = await asyncio.to_thread(self._select, question, candidates, tb, call)
        return self._finish(question, refs, scored, tb)

    async def _answer(self, question: str, tb: TraceBuilder, call: Call, gate: Gate | None) -> Answer:
        refs, abstain = await self._references(question, tb, call)
        if abstain:
            return self._abstain(question, refs, tb)
        return await self._generate(question, refs, tb, call, gate)

    # --- public API -------------------------------------------------------------

    async def aanswer(self, question: str, *, gate: Gate | None = None, top_k: int | None = None,
                      deadline: float | None = None, language: str | None = None,
                      candidates: int | None = None) -> Answer:
        """Answer ``question``: retrieve, rank, generate, score.

        ``top_k``, ``deadline`` (seconds; :class:`DeadlineError` past it), ``language`` and
        ``candidates`` override the config for this call only (:class:`webglm.AskOptions`).
        ``gate``, when given, is entered around generation only (a server uses it to queue
        requests for one model while their retrieval runs concurrently). A generation already
        running in a worker thread when the deadline passes finishes there in the background."""
        call = self._call(AskOptions(top_k, deadline, language, candidates))
        question = validate_question(question)
        tb = self._trace(question, call)
        return await call.within(self._answer(question, tb, call, gate), tb)

    async def aanswer_with_references(self, question: str, references: Sequence[Reference], *,
                                      deadline: float | None = None, language: str | None = None,
                                      candidates: int | None = None) -> Answer:
        """Generate (and select) an answer from given references: no retrieval. Options as in
        :meth:`aanswer`."""
        call = self._call(AskOptions(None, deadline, language, candidates))
        question = validate_question(question)
        tb = self._trace(question, call)
        refs = tuple(references)
        if not refs:
            return self._abstain(question, refs, tb)
        return await call.within(self._generate(question, refs, tb, call), tb)

    async def areferences(self, question: str, *, top_k: int | None = None,
                          deadline: float | None = None) -> tuple[tuple[Reference, ...], Trace]:
        """Retrieve and rank only: the numbered references for ``question`` and the trace
        (empty references when nothing passed the relevance threshold)."""
        call = self._call(AskOptions(top_k, deadline))
        question = validate_question(question)
        tb = self._trace(question, call)
        refs, abstain = await call.within(self._references(question, tb, call), tb)
        return (() if abstain else refs), tb.freeze()

    def answer(self, question: str, *, top_k: int | None = None, deadline: float | None = None,
               language: str | None = None, candidates: int | None = None) -> Answer:
        """Synchronous :meth:`aanswer` (not for use inside a running event loop)."""
        return asyncio.run(self._run_and_close(self.aanswer(
            question, top_k=top_k, deadline=deadline, language=language, candidates=candidates)))

    def answer_with_references(self, question: str, references: Sequence[Reference], *,
                               deadline: float | None = None, language: str | None = None,
                               candidates: int | None = None) -> Answer:
        """Synchronous :meth:`aanswer_with_references`."""
        return asyncio.run(self._run_and_close(self.aanswer_with_references(
            question, references, deadline=deadline, language=language, candidates=candidates)))

    async def _run_and_close(self, coro: Awaitable[T]) -> T:
        # asyncio.run closes its loop: clients bound to it must be closed and rebuilt. The
        # extraction processes are not bound to a loop and serve the next call too.
        try:
            return await coro
        finally:
            await self._close_connections()

    async def stream(self, question: str, *, gate: Gate | None = None, top_k: int | None = None,
                     deadline: float | None = None, language: str | None = None,
                     candidates: int | None = None) -> AsyncIterator[Event]:
        """Yield :data:`webglm.Event` s: :class:`SearchDone` (web retrieval: the hits, before
        pages are fetched), :class:`ReferencesReady`, :class:`TokenEvent` s of the first
        candidate, :class:`CandidateDone` per candidate, then :class:`FinalEvent`.

        Closing the iterator early (or cancelling its task) stops the generation. ``gate`` and
        the per-call options as in :meth:`aanswer`; past the deadline the stream stops the
        generation and raises :class:`DeadlineError`."""
        call = self._call(AskOptions(top_k, deadline, language, candidates))
        question = validate_question(question)
        tb = self._trace(question, call)
        found: asyncio.Queue[tuple[SearchHit, ...]] = asyncio.Queue()
        ranking = asyncio.ensure_future(call.within(self._references(question, tb, call, found.put_nowait), tb))
        try:
            hits = asyncio.ensure_future(found.get())
            await asyncio.wait({ranking, hits}, return_when=asyncio.FIRST_COMPLETED)
            if not hits.done():
                hits.cancel()
            elif not hits.cancelled():
                yield SearchDone(hits.result())
            refs, abstain = await ranking
        finally:
            ranking.cancel()  # the consumer left early: stop fetching
        yield ReferencesReady(refs)
        if abstain:
            yield FinalEvent(self._abstain(question, refs, tb))
            return
        candidates_done: list[Candidate] = []
        async for event in self._stream_candidates(question, refs, tb, call, gate, candidates_done):
            yield event
        scored = await call.within(asyncio.to_thread(self._select, question, candidates_done, tb, call), tb)
        yield FinalEvent(self._finish(question, refs, scored, tb))

    async def _stream_candidates(self, question: str, refs: tuple[Reference, ...], tb: TraceBuilder,
                                 call: Call, gate: Gate | None, out: list[Candidate]) -> AsyncIterator[Event]:
        tb.reference_languages = tuple(detect_language(r.passage.text, tb.language) for r in refs)
        tb.stage = "generate"
        await call.within(asyncio.to_thread(self._load_writer), tb)
        writer = self._writer_for(call)
        tb.models["generator"] = getattr(writer, "model_id", "")
        n = call.config.scorer.candidates
        async with gated(gate, tb):
            t0 = time.perf_counter()
            events = writer.astream(question, refs, n)
            try:
                while True:
                    try:
                        event = await call.within(events.__anext__(), tb)
                    except StopAsyncIteration:
                        break
                    if isinstance(event, TokenEvent):
                        tb.timings.setdefault("first_token", time.perf_counter() - t0)
                    elif isinstance(event, CandidateDone):
                        out.append(event.candidate)
                    yield event
            finally:
                await events.aclose()  # stops the backend's decode loop
            if n > len(out):
                # the rest of the same n: seeds continue after the streamed candidate's, so the
                # candidates (and the choice) are those aanswer() makes
                more = await call.within(asyncio.to_thread(writer.write, question, refs, n, len(out)), tb)
                for i, c in enumerate(more, start=len(out)):
                    yield CandidateDone(c, i)
                out.extend(more)
            tb.timings["generate"] = time.perf_counter() - t0
        if not out:
            raise GenerationError("the generator produced no candidate")

    # --- lifecycle -------------------------------------------------------------

    async def aclose(self) -> None:
        """Close HTTP clients and stop the extraction processes (models stay loaded)."""
        await self._close_connections()
        await asyncio.to_thread(self._close_workers)

    def close(self) -> None:
        """Synchronous :meth:`aclose`, for users of :meth:`answer` (not inside a running event loop)."""
        asyncio.run(self.aclose())

    def __enter__(self) -> "WebGLM":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def _close_connections(self) -> None:
        if self._clients is not None:
            for client in self._clients:
                await client.aclose()
            self._clients = None
            self._retriever = None
        backend = self._backend or (self._writer and self._writer.backend)
        # Backends that hold connections close them with ``aclose`` (async) or ``close``
        # (the OpenAI backend's sync httpx client); model backends define neither.
        aclose, close = getattr(backend, "aclose", None), getattr(backend, "close", None)
        if aclose is not None:
            await aclose()
        elif callable(close):
            close()

    async def __aenter__(self) -> "WebGLM":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def corpus_info(self) -> dict[str, Any]:
        """Where the opened corpus lives and how big it is ({} before it is opened)."""
        if self._corpus is None:
            return {}
        return {"location": self._corpus.location, "passages": len(self._corpus.index),
                "files_read": self._corpus.files_read, "from_cache": self._corpus.from_cache}


__all__ = ["WebGLM", "validate_question", "ABSTAIN_TEXT", "NO_OPTIONS"]
