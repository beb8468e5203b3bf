"""Where a :class:`~webglm.pipeline.WebGLM` gets its references: the web retriever (engines,
clients, fetch budgets), an injected retriever or ranker, a corpus folder or a corpus store."""

from __future__ import annotations

import asyncio
import copy
import os
from typing import Any, Callable, Sequence

from .config import WebGLMConfig
from .errors import SearchError
from .options import Call
from .protocols import CorpusStore, PageStore, Ranked, Ranker, Retriever, SearchEngine
from .trace import TraceBuilder, empty_retrieval
from .types import Reference, Retrieval, SearchHit

OnHits = Callable[[tuple[SearchHit, ...]], None]


class _RecordedOnlyEngine:
    """Stands in for a search engine during replay: the retriever reads recorded results."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def search(self, query: str, k: int) -> list:
        raise SearchError("replay mode makes no live search", stage="search")


def _count(store: Any) -> int:
    return int(store.count()) if hasattr(store, "count") else len(store)


class Sources:
    """The retrieval half of the pipeline (a base of :class:`~webglm.pipeline.WebGLM`)."""

    config: WebGLMConfig
    corpus_path: str | os.PathLike[str] | None
    page_store: PageStore | None
    replay: bool
    progress: Callable[[str], None]
    _engine: SearchEngine | Sequence[SearchEngine] | None
    _store: CorpusStore | None
    _user_retriever: Retriever | None
    _user_ranker: Ranker | None
    _corpus: Any
    _ranker: Any
    _clients: Any
    _retriever: Any
    _workers: Any
    encoder: Any

    def _load_encoder(self) -> None: ...

    def _load_corpus(self) -> None: ...

    # --- retrieval --------------------------------------------------------------

    def _web_retriever(self) -> Any:
        if self._retriever is None:
            from .retriever import FailoverEngine, FusionEngine, WebRetriever, make_clients, make_engine

            cfg = self.config
            self._clients = make_clients(cfg.fetch, cfg.search)
            engine: Any
            if isinstance(self._engine, Sequence):  # several engines: failover, or fusion with search.fuse
                kind = FusionEngine if cfg.search.fuse else FailoverEngine
                engine = kind(list(self._engine), cfg.search.timeout)
            elif self._engine is not None:
                engine = self._engine
            elif self.replay:  # replay reads recorded results under the engine's name; no live search
                engine = _RecordedOnlyEngine(cfg.search.engine)
            else:
                engine = make_engine(cfg.search.engine, cfg.search, self._clients[0])
            kwargs: dict[str, Any] = {"page_store": self.page_store}
            if self.replay:
                kwargs["replay"] = True
            self._retriever = WebRetriever(cfg.search, cfg.fetch, cfg.chunk, engine=engine,
                                           fetch_client=self._clients[1], workers=self._extraction_workers(),
                                           **kwargs)
        return self._retriever

    def _extraction_workers(self) -> Any:
        """The pipeline's lease on the extraction processes (started lazily, by the retriever)."""
        if self._workers is None:
            from .retriever.workers import ExtractionWorkers

            self._workers = ExtractionWorkers(self.config.fetch.extract_processes)
        return self._workers

    def _close_workers(self) -> None:
        workers, self._workers = self._workers, None
        if workers is not None:
            workers.close()

    def _retriever_for(self, call: Call) -> Retriever:
        if self._user_retriever is not None:
            return self._user_retriever
        retriever = self._web_retriever()
        if call.config.fetch is self.config.fetch or retriever.fetcher is None:
            return retriever
        from .retriever import Fetcher

        # a deadline shortens this call's fetch budgets; the shared retriever keeps its own
        retriever = copy.copy(retriever)
        retriever.fetch_config = call.config.fetch
        retriever.fetcher = Fetcher(self._clients[1], call.config.fetch)
        return retriever

    def _ranker_for(self, call: Call) -> Ranker:
        if self._user_ranker is not None:
            return self._user_ranker
        from .contriever import Ranker as ContrieverRanker

        if call.config.rank is not self.config.rank:
            return ContrieverRanker(self.encoder, call.config.rank)
        if self._ranker is None:
            self._ranker = ContrieverRanker(self.encoder, self.config.rank)
        return self._ranker

    async def _rank_store(self, question: str, tb: TraceBuilder, call: Call) -> Ranked:
        if self._store is None:
            await asyncio.to_thread(self._load_corpus)
            tb.failures.extend(self._corpus.failures)
        store = self._store if self._store is not None else self._corpus.index
        tb.models["encoder"] = getattr(store, "model_id", "") or getattr(self.encoder, "model_id", "")
        with tb.timed("rank"):
            ranking = await asyncio.to_thread(store.rank, question, call.config.rank)
        if self._store is None:
            _note_runtime(tb.models, self.encoder)
        tb.counters["passages"] = float(_count(store))
        return ranking

    async def _retrieve(self, question: str, tb: TraceBuilder, call: Call, on_hits: OnHits | None) -> Retrieval:
        tb.stage = "retrieve"
        retriever = self._retriever_for(call)
        if on_hits is not None and self._user_retriever is None:  # the web retriever reports its hits
            retrieval = await retriever.retrieve(question, on_hits=on_hits)  # type: ignore[call-arg]
        else:
            retrieval = await retriever.retrieve(question)
        tb.timings.update(retrieval.timings)
        tb.failures.extend(retrieval.failures)
        tb.events.extend(retrieval.events)
        tb.counters["hits"] = float(len(retrieval.hits))
        tb.counters["passages"] = float(len(retrieval.passages))
        tb.counters["pages_failed"] = float(sum(1 for f in retrieval.failures if f.stage == "fetch"))
        tb.counters["pages_fetched"] = float(len({p.url for p in retrieval.passages if p.source == "web"}))
        if self._user_retriever is None:
            tb.budgets.update(page_timeout=call.config.fetch.page_timeout,
                              stage_budget=call.config.fetch.stage_budget)
        return retrieval

    async def _references(self, question: str, tb: TraceBuilder, call: Call,
                          on_hits: OnHits | None = None) -> tuple[tuple[Reference, ...], bool]:
        """Retrieve passages and rank them into numbered references (``on_hits``: called with
        the web search's hits as soon as they arrive)."""
        ranking: Ranked
        if self.corpus_path is not None or self._store is not None:
            ranking = await self._rank_store(question, tb, call)
        else:
            retrieval = await self._retrieve(question, tb, call, on_hits)
            if not retrieval.passages:
                tb.abstain = empty_retrieval(len(retrieval.hits), retrieval.failures, tb.language)
                return (), True
            if self._user_ranker is None:
                await asyncio.to_thread(self._load_encoder)
                tb.models["encoder"] = getattr(self.encoder, "model_id", "")
                _note_runtime(tb.models, self.encoder)
            ranker = self._ranker_for(call)
            with tb.timed("rank"):
                ranking = await asyncio.to_thread(ranker.rank, question, retrieval.passages)
        for key, value in getattr(ranking, "counters", {}).items():
            tb.counters[f"rank_{key}"] = float(value)
        refs = tuple(ranking.references)
        if call.options.top_k is not None:  # an injected ranker or store may return more
            refs = refs[:call.options.top_k]
        tb.counters["references"] = float(len(refs))
        return refs, bool(ranking.abstained or not refs)



__all__ = ["Sources"]


def _note_runtime(models: dict, encoder: object) -> None:
    """Record how the loaded encoder runs (``onnx/int8``, ``torch/fp32``) beside its id."""
    runtime = getattr(encoder, "runtime", "")
    if runtime:
        models["encoder_runtime"] = f"{runtime}/{'int8' if getattr(encoder, 'quantized', False) else 'fp32'}"
