"""Engine registry, failover (``auto``) and reciprocal-rank fusion.

``auto`` tries the configured engines in order and moves on after an error, a
timeout, a 429 or an empty answer, recording each reason as an event. With
``fuse`` every configured engine is asked at once and the lists are merged by
reciprocal rank. DuckDuckGo needs no key, but it is scraped and often rate
limited: ``auto`` uses it only as the last fallback behind a configured engine
(or when it is the only engine listed); ``--engine duckduckgo`` selects it alone.
"""

from __future__ import annotations

import asyncio
import os
from typing import Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..config import SearchConfig
from ..errors import ConfigError, SearchError
from ..protocols import SearchEngine
from .. import registry
from ..registry import EngineContext
from ..types import SearchHit
from .engines import BraveEngine, EngineError, DuckDuckGoEngine, SearXNGEngine, SerpAPIEngine

ENGINES = ("searxng", "brave", "serpapi", "duckduckgo")  # the built-ins; plugins add more
ENV_VARS = {"searxng": "SEARXNG_URL", "brave": "BRAVE_API_KEY", "serpapi": "SERPAPI_API_KEY"}
RRF_K = 60  # the usual reciprocal-rank-fusion constant
_SETUP_HINT = (
    "set SEARXNG_URL (a SearXNG instance with JSON output), BRAVE_API_KEY or SERPAPI_API_KEY, "
    "pass --engine duckduckgo (no key, often rate limited), or answer from local files with --corpus PATH"
)


def _setting(name: str, search: SearchConfig, environ: Mapping[str, str]) -> str:
    if name == "searxng":
        return search.searxng_url or environ.get("SEARXNG_URL", "")
    return environ.get(ENV_VARS[name], "") if name in ENV_VARS else "-"


def _needs_setting(name: str) -> bool:
    return name in ENV_VARS


def configured_engines(search: SearchConfig, environ: Mapping[str, str] | None = None) -> list[str]:
    """Engines of ``search.engines`` that ``auto`` would use, in configured order.

    Built-in engines that need a URL or key count when it is present; engines added by
    plugins always count. DuckDuckGo needs none but is a scraper that is often rate limited,
    so it only serves as a fallback behind a configured engine, unless it is the only engine
    listed (an explicit choice). An empty list means nothing is configured.
    """
    environ = os.environ if environ is None else environ
    out = []
    for name in search.engines:
        if name == "local":
            continue  # the corpus is served by the pipeline's index, not by a web engine
        if name not in registry.search_engines:
            err = registry.search_engines.unknown(name)
            raise ConfigError(f"{err.message} in search.engines", stage="search", hint=err.hint)
        if not _needs_setting(name) or _setting(name, search, environ).strip():
            out.append(name)
    keyless_only = all(name == "duckduckgo" for name in out)
    listed = [name for name in search.engines if name != "local"]
    if out and keyless_only and listed != ["duckduckgo"]:
        return []
    return out


def _required(name: str, ctx: EngineContext) -> str:
    value = _setting(name, ctx.search, ctx.environ).strip()
    if not value:
        what = "a URL" if name == "searxng" else "an API key"
        raise ConfigError(f"search engine {name!r} needs {what}", hint=f"set {ENV_VARS[name]}, or {_SETUP_HINT}")
    return value


def searxng_engine(ctx: EngineContext) -> SearchEngine:
    """The ``searxng`` factory (``search.searxng_url`` or ``$SEARXNG_URL``)."""
    return SearXNGEngine(ctx.client, _required("searxng", ctx), ctx.search.timeout)


def brave_engine(ctx: EngineContext) -> SearchEngine:
    """The ``brave`` factory (``$BRAVE_API_KEY``)."""
    return BraveEngine(ctx.client, ctx.search.brave_url, _required("brave", ctx), ctx.search.timeout)


def serpapi_engine(ctx: EngineContext) -> SearchEngine:
    """The ``serpapi`` factory (``$SERPAPI_API_KEY``)."""
    return SerpAPIEngine(ctx.client, ctx.search.serpapi_url, _required("serpapi", ctx), ctx.search.timeout)


def duckduckgo_engine(ctx: EngineContext) -> SearchEngine:
    """The ``duckduckgo`` factory (no key; scraped, often rate limited)."""
    return DuckDuckGoEngine(ctx.client, ctx.search.duckduckgo_url, ctx.search.timeout)


def make_engine(
    name: str, search: SearchConfig, client: httpx.AsyncClient, environ: Mapping[str, str] | None = None
) -> SearchEngine:
    """Build the engine ``name``: "auto" (failover or fusion over the configured engines), a
    built-in ("searxng", "brave", "serpapi", "duckduckgo") or one a plugin registers under the
    ``webglm.search_engines`` entry-point group."""
    ctx = EngineContext(search, client, os.environ if environ is None else environ)
    if name == "local":
        raise ConfigError(
            "the local engine searches a corpus", hint="pass --corpus PATH instead of --engine local"
        )
    if name != "auto":
        if name not in registry.search_engines:
            raise registry.search_engines.unknown(name, also=("auto",))
        return registry.search_engines.create(name, ctx)
    names = configured_engines(search, ctx.environ)
    if not names:
        raise ConfigError("no search engine is configured", hint=_SETUP_HINT)
    engines = [registry.search_engines.create(n, ctx) for n in names]
    return FusionEngine(engines, search.timeout) if search.fuse else FailoverEngine(engines, search.timeout)


def _reason(engine: SearchEngine, exc: BaseException) -> str:
    kind = getattr(exc, "kind", type(exc).__name__)
    return f"{engine.name} failed ({kind}): {exc}"


async def _ask(engine: SearchEngine, query: str, k: int, timeout: float) -> list[SearchHit]:
    try:
        return await asyncio.wait_for(engine.search(query, k), timeout)
    except (asyncio.TimeoutError, TimeoutError):
        raise EngineError(
            f"{engine.name}: no answer within {timeout:g}s", kind="timeout", stage="search"
        ) from None


class FailoverEngine:
    """Tries engines in order; the first non-empty answer wins."""

    name = "auto"

    def __init__(self, engines: Sequence[SearchEngine], timeout: float):
        self.engines = list(engines)
        self.timeout = timeout

    async def search(self, query: str, k: int) -> list[SearchHit]:
        """Protocol method: hits of the first engine that answers."""
        return (await self.search_with_events(query, k))[0]

    async def search_with_events(self, query: str, k: int) -> tuple[list[SearchHit], list[str]]:
        """Like :meth:`search`, plus one event per failover explaining why."""
        events: list[str] = []
        errors = 0
        for engine in self.engines:
            try:
                hits = await _ask(engine, query, k, self.timeout)
            except SearchError as exc:
                errors += 1
                events.append("failover: " + _reason(engine, exc))
                continue
            if hits:
                events.append(f"search: {engine.name} answered with {len(hits)} results")
                return hits, events
            events.append(f"failover: {engine.name} returned no results")
        if errors == len(self.engines):
            raise SearchError(
                "every search engine failed: " + "; ".join(events), stage="search", hint=_SETUP_HINT
            )
        return [], events


def normalize_url(url: str) -> str:
    """Key for de-duplicating results: lower-case scheme/host, no fragment, no trailing slash."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def rrf_fuse(lists: Sequence[Sequence[SearchHit]], k: int) -> list[SearchHit]:
    """Merge ranked lists by reciprocal rank (sum of 1 / (60 + rank)); keeps the first copy's text."""
    scores: dict[str, float] = {}
    first: dict[str, SearchHit] = {}
    engines: dict[str, list[str]] = {}
    for hits in lists:
        for position, hit in enumerate(hits, start=1):
            key = normalize_url(hit.url)
            scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + position)
            first.setdefault(key, hit)
            engines.setdefault(key, []).append(hit.engine)
    order = sorted(scores, key=lambda key: -scores[key])[:k]
    return [
        SearchHit(
            url=first[key].url,
            title=first[key].title,
            snippet=first[key].snippet or "",
            rank=i,
            engine="+".join(dict.fromkeys(engines[key])),
        )
        for i, key in enumerate(order, start=1)
    ]


class FusionEngine(FailoverEngine):
    """Asks every engine at once and fuses the answers by reciprocal rank."""

    async def search_with_events(self, query: str, k: int) -> tuple[list[SearchHit], list[str]]:
        results = await asyncio.gather(
            *(_ask(e, query, k, self.timeout) for e in self.engines), return_exceptions=True
        )
        events, lists = [], []
        for engine, result in zip(self.engines, results):
            if isinstance(result, BaseException):
                if not isinstance(result, SearchError):
                    raise result
                events.append("fusion: " + _reason(engine, result))
            else:
                lists.append(result)
                events.append(f"fusion: {engine.name} answered with {len(result)} results")
        if not lists:
            raise SearchError(
                "every search engine failed: " + "; ".join(events), stage="search", hint=_SETUP_HINT
            )
        return rrf_fuse(lists, k), events
