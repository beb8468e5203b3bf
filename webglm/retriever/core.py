"""The web retriever: search, fetch, extract, chunk, with snippets as fallback.

With a :class:`~webglm.protocols.PageStore` the retriever records every hit
list and page it obtains; with ``replay=True`` it reads them back and touches
no network at all (a missing entry becomes a ``replay_miss`` failure).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Callable, Sequence

import httpx

from ..config import ChunkConfig, FetchConfig, SearchConfig
from ..errors import FetchError, SearchError
from ..protocols import PageStore, SearchEngine
from ..sanitize import strip_controls
from ..types import Failure, Page, Passage, Retrieval, SearchHit
from .chunk import chunk_page, dedup_passages, passage_id
from .extract import aextract
from .fetch import FetchResult, Fetcher
from .search import normalize_url
from .workers import ExtractionWorkers


def _unique_hits(hits: Sequence[SearchHit], k: int) -> list[SearchHit]:
    seen: set[str] = set()
    out = []
    for hit in hits:
        key = normalize_url(hit.url)
        if key not in seen:
            seen.add(key)
            out.append(hit)
    return out[:k]


def snippet_passage(hit: SearchHit) -> Passage:
    """A search snippet as a fallback passage for a page that could not be used."""
    text = " ".join(hit.snippet.split())
    return Passage(
        id=passage_id("snippet:" + hit.url, 0, len(text)),
        text=text,
        url=hit.url,
        title=hit.title,
        start=0,
        end=len(text),
        source="snippet",
    )


def _shown_safely(hit: SearchHit) -> SearchHit:
    """The hit without terminal control sequences in the title and snippet users will see."""
    title, snippet = strip_controls(hit.title), strip_controls(hit.snippet)
    if title == hit.title and snippet == hit.snippet:
        return hit
    return dataclasses.replace(hit, title=title, snippet=snippet)


class WebRetriever:
    """Retrieves passages for a question from the web (see module docs)."""

    def __init__(
        self,
        search: SearchConfig,
        fetch: FetchConfig,
        chunk: ChunkConfig,
        *,
        engine: SearchEngine,
        fetch_client: httpx.AsyncClient | None,
        page_store: PageStore | None = None,
        replay: bool = False,
        workers: ExtractionWorkers | None = None,
    ):
        """``workers``: extraction processes shared with the caller, who closes them; by
        default the retriever leases its own (``fetch.extract_processes``), ended by :meth:`close`."""
        if replay and page_store is None:
            raise ValueError("replay=True needs a page_store")
        self.search_config = search
        self.fetch_config = fetch
        self.chunk_config = chunk
        self.engine = engine
        self.page_store = page_store
        self.replay = replay
        self.fetcher = Fetcher(fetch_client, fetch) if fetch_client is not None else None
        self._own_workers = workers is None
        self.workers = workers if workers is not None else ExtractionWorkers(fetch.extract_processes)

    def close(self) -> None:
        """Shut down the extraction processes this retriever started (a no-op for shared ones)."""
        if self._own_workers:
            self.workers.close()

    async def _search(self, question: str) -> tuple[list[SearchHit], list[str], list[Failure]]:
        k = self.search_config.k
        if self.replay:
            stored = self.page_store.get_hits(self.engine.name, question)  # type: ignore[union-attr]
            if stored is None:
                return [], [], [Failure("search", "replay_miss", "no recorded search results", "")]
            return list(stored)[:k], ["search: replayed recorded results"], []
        if self.page_store is not None:
            # Recording reads the store first, so every question of one recording sees the same
            # results that a replay will serve.
            stored = self.page_store.get_hits(self.engine.name, question)
            if stored is not None:
                return list(stored)[:k], ["search: reused recorded results"], []
        try:
            if hasattr(self.engine, "search_with_events"):
                hits, events = await self.engine.search_with_events(question, k)
            else:
                hits = await self.engine.search(question, k)
                events = [f"search: {self.engine.name} answered with {len(hits)} results"]
        except SearchError as exc:
            kind = getattr(exc, "kind", "failed")
            return [], [], [Failure("search", kind, str(exc)[:500], "")]
        if self.page_store is not None:
            self.page_store.put_hits(self.engine.name, question, hits)
        return list(hits), list(events), []

    def _stored_pages(self, urls: list[str], on_page: Callable[[Page], None]) -> tuple[list[Page], list[str]]:
        """Pages the store already holds (handed to ``on_page``) and the URLs it lacks."""
        pages, missing = [], []
        for url in urls:
            page = self.page_store.get_page(url)  # type: ignore[union-attr]
            if page is None:
                missing.append(url)
            else:
                pages.append(page)
                on_page(page)
        return pages, missing

    def _recorded_failure(self, url: str) -> Failure:
        get_failure = getattr(self.page_store, "get_failure", None)
        failure = get_failure(url) if get_failure is not None else None
        return failure or Failure("fetch", "replay_miss", "no recorded page", url)

    async def _fetch(self, urls: list[str], on_page: Callable[[Page], None]) -> FetchResult:
        if self.page_store is None:
            if self.fetcher is None:
                raise ValueError("WebRetriever needs a fetch_client unless replay=True")
            return await self.fetcher.fetch_many(urls, on_page)
        # Record and replay both read the store first: a page seen earlier in a recording is
        # served as recorded, so a page that changes between two questions cannot diverge.
        pages, missing = self._stored_pages(urls, on_page)
        if self.replay:
            return FetchResult(tuple(pages), tuple(self._recorded_failure(u) for u in missing), 0.0)
        if self.fetcher is None:
            raise ValueError("WebRetriever needs a fetch_client unless replay=True")
        result = await self.fetcher.fetch_many(missing, on_page) if missing else FetchResult((), (), 0.0)
        for page in result.pages:
            self.page_store.put_page(page)
        put_failure = getattr(self.page_store, "put_failure", None)
        if put_failure is not None:
            for failure in result.failures:
                put_failure(failure.url, failure.kind, failure.detail)
        order = {u: i for i, u in enumerate(urls)}
        return FetchResult(tuple(sorted(pages + list(result.pages), key=lambda p: order.get(p.url, len(order)))),
                           result.failures, result.elapsed)

    async def _extract_pool(self):
        """Where pages are extracted: the worker processes if they are up, else None (threads).
        With an explicit ``fetch.extract_processes`` pages wait for the workers to start."""
        if self.workers.eager:
            return await asyncio.to_thread(self.workers.start)
        return self.workers.pool()

    async def _extract_one(self, page: Page, title_hint: str) -> tuple[list[Passage], list[Failure]]:
        try:
            pool = await self._extract_pool()
            title, text = await aextract(page, timeout=self.fetch_config.extract_timeout, pool=pool)
        except FetchError as exc:
            return [], [Failure("extract", exc.kind, exc.message, page.url)]
        except Exception as exc:  # a broken page must not end the stage
            return [], [Failure("extract", "error", f"{type(exc).__name__}: {exc}"[:300], page.url)]
        cap = self.chunk_config.per_url_cap
        passages, cut = chunk_page(text, url=page.url, title=title or title_hint, config=self.chunk_config)
        if not passages:
            return [], [Failure("extract", "empty", "no passage survived chunking", page.url)]
        if cut:  # the page is still used, but say what chunk.per_url_cap left out
            return passages, [Failure("chunk", "capped", f"kept the first {cap} of {cap + cut} passages "
                                      "(raise chunk.per_url_cap to keep more)", page.url)]
        return passages, []

    async def _collect(self, pages: Sequence[Page], tasks: dict[str, asyncio.Future]):
        passages, failures = [], []
        for page in pages:  # in hit order, whatever order extraction finished in
            found, failed = await tasks[page.url]
            passages.extend(found)
            failures.extend(failed)
        return passages, failures

    async def retrieve(self, question: str,
                       on_hits: Callable[[tuple[SearchHit, ...]], None] | None = None) -> Retrieval:
        """Search, fetch and extract; pages that fail fall back to their snippets.

        Extraction of a page starts as soon as it arrives; ``timings["extract"]``
        is the time extraction adds after the last page arrived. ``on_hits`` is called with
        the hits once the search has answered, before any page is fetched.
        """
        t0 = time.perf_counter()
        starting = asyncio.ensure_future(self._extract_pool())  # explicit workers start while search runs
        try:
            hits, events, failures = await self._search(question)
            hits = [_shown_safely(h) for h in _unique_hits(hits, self.search_config.k)]
            if on_hits is not None:
                on_hits(tuple(hits))
        except BaseException:
            # the caller's error wins; the pool's start is not left running unobserved behind it
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            raise
        self.workers.start_background(len(hits))  # "auto": pages arriving once it is up use it
        t1 = time.perf_counter()
        titles = {h.url: h.title for h in hits}
        tasks: dict[str, asyncio.Future] = {}

        def start_extraction(page: Page) -> None:  # overlaps extraction with the remaining fetches
            tasks[page.url] = asyncio.ensure_future(self._extract_one(page, titles.get(page.url, "")))

        try:
            fetched = await self._fetch([h.url for h in hits], start_extraction)
            t2 = time.perf_counter()
            passages, extract_failures = await self._collect(fetched.pages, tasks)
        finally:
            for task in tasks.values():
                task.cancel()
            await starting
        t3 = time.perf_counter()
        failures += list(fetched.failures) + extract_failures
        covered = {p.url for p in passages}
        if self.search_config.keep_snippets:
            passages += [snippet_passage(h) for h in hits if h.url not in covered and h.snippet.strip()]
        if self.chunk_config.dedup:
            passages = dedup_passages(passages)
        events.append(f"retrieve: {len(fetched.pages)}/{len(hits)} pages fetched, {len(passages)} passages")
        return Retrieval(
            passages=tuple(passages),
            hits=tuple(hits),
            failures=tuple(failures),
            timings={"search": t1 - t0, "fetch": t2 - t1, "extract": t3 - t2},
            events=tuple(events),
        )
