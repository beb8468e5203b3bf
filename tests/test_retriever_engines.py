"""Search engines against a local server speaking their APIs; failover, fusion and configuration."""

import time

import httpx
import pytest

from webglm.config import SearchConfig
from webglm.errors import ConfigError, SearchError
from webglm.retriever import configured_engines, make_engine, rrf_fuse
from webglm.retriever.engines import EngineError
from webglm.retriever.testing import FakeSearchAPI
from webglm.types import SearchHit

RESULTS = [
    {"url": "https://example.org/a", "title": "Alpha & Co", "snippet": "First <result> snippet"},
    {"url": "https://example.org/b", "title": "Beta", "snippet": "Second snippet"},
    {"url": "https://example.org/c", "title": "Gamma", "snippet": "Third snippet"},
]
KEYS = {"BRAVE_API_KEY": "brave-secret-123", "SERPAPI_API_KEY": "serp-secret-456"}
ALL = ("searxng", "brave", "serpapi", "duckduckgo")


@pytest.fixture
def api():
    with FakeSearchAPI() as server:
        server.results = list(RESULTS)
        yield server


def _config(api, **kw):
    return SearchConfig(
        searxng_url=api.url + "/searxng",
        brave_url=api.url + "/brave/res/v1/web/search",
        serpapi_url=api.url + "/serpapi/search.json",
        duckduckgo_url=api.url + "/ddg/html/",
        timeout=3.0,
        **kw,
    )


async def _search(api, name, k=10, **kw):
    async with httpx.AsyncClient() as client:
        engine = make_engine(name, _config(api, **kw), client, environ=KEYS)
        return await engine.search("who wrote the iliad", k)


@pytest.mark.parametrize("name", ALL)
async def test_engine_parses_results(api, name):
    hits = await _search(api, name)
    assert [h.url for h in hits] == [r["url"] for r in RESULTS]
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].title == "Alpha & Co" and hits[0].snippet == "First <result> snippet"
    assert {h.engine for h in hits} == {name}
    assert len(await _search(api, name, k=2)) == 2


@pytest.mark.parametrize("name", ALL)
async def test_engine_empty(api, name):
    api.modes = {"ddg" if name == "duckduckgo" else name: "empty"}
    assert await _search(api, name) == []


@pytest.mark.parametrize("name", ["searxng", "brave", "serpapi"])
@pytest.mark.parametrize(
    "mode,kind", [("429", "rate_limited"), ("500", "http_500"), ("malformed", "malformed"), ("auth", "auth")]
)
async def test_engine_errors(api, name, mode, kind):
    api.modes = {name: mode}
    with pytest.raises(EngineError) as info:
        await _search(api, name)
    assert info.value.kind == kind
    if mode == "429":
        assert info.value.retry_after == 7.0
    for secret in KEYS.values():
        assert secret not in str(info.value)


async def test_keys_are_sent_in_headers_where_possible(api):
    await _search(api, "brave")
    method, path, headers = api.requests[-1]
    assert headers.get("X-Subscription-Token") == KEYS["BRAVE_API_KEY"]
    assert KEYS["BRAVE_API_KEY"] not in path


async def test_short_retry_after_is_waited_once(api):
    api.modes = {"brave": "429"}
    api.retry_after = "1"
    start = time.monotonic()
    with pytest.raises(EngineError):
        await _search(api, "brave")
    assert time.monotonic() - start >= 0.9
    assert sum(1 for r in api.requests if r[1].startswith("/brave")) == 2


async def test_serpapi_error_payload_and_ddg_bot_challenge(api):
    api.modes = {"serpapi": "error", "ddg": "error"}
    with pytest.raises(EngineError) as info:
        await _search(api, "serpapi")
    assert info.value.kind == "api_error" and "Invalid API key" in str(info.value)
    with pytest.raises(EngineError) as info:
        await _search(api, "duckduckgo")
    assert info.value.kind == "rate_limited"


async def test_failover_reasons_are_reported(api):
    api.modes = {"searxng": "429", "brave": "malformed", "serpapi": "empty"}
    async with httpx.AsyncClient() as client:
        engine = make_engine("auto", _config(api), client, environ=KEYS)
        hits, events = await engine.search_with_events("q", 5)
    assert [h.engine for h in hits] == ["duckduckgo"] * 3
    assert "searxng failed (rate_limited)" in events[0]
    assert "brave failed (malformed)" in events[1]
    assert "serpapi returned no results" in events[2]
    assert "duckduckgo answered" in events[3]


async def test_failover_on_timeout(api):
    api.modes = {"searxng": "slow"}
    api.slow_seconds = 5
    async with httpx.AsyncClient() as client:
        engine = make_engine("auto", _config(api, engines=("searxng", "brave")), client, environ=KEYS)
        engine.timeout = 0.5
        for inner in engine.engines:
            inner.timeout = 0.5
        start = time.monotonic()
        hits, events = await engine.search_with_events("q", 5)
    assert time.monotonic() - start < 2.0
    assert hits[0].engine == "brave" and "searxng failed (timeout)" in events[0]


async def test_all_engines_failing_raises_with_hint(api):
    api.modes = {name: "500" for name in ("searxng", "brave", "serpapi", "ddg")}
    with pytest.raises(SearchError) as info:
        await _search(api, "auto")
    assert "SEARXNG_URL" in str(info.value)


async def test_all_engines_empty_returns_nothing(api):
    api.modes = {name: "empty" for name in ("searxng", "brave", "serpapi", "ddg")}
    assert await _search(api, "auto") == []


async def test_fusion_merges_by_reciprocal_rank(api):
    api.modes = {"brave": "500"}
    async with httpx.AsyncClient() as client:
        engine = make_engine("auto", _config(api, fuse=True), client, environ=KEYS)
        hits, events = await engine.search_with_events("q", 10)
    assert [h.url for h in hits] == [r["url"] for r in RESULTS]
    assert hits[0].engine == "searxng+serpapi+duckduckgo"
    assert any("brave failed" in e for e in events)


def test_rrf_prefers_agreement():
    def hit(url, rank, engine):
        return SearchHit(url=url, title=url, snippet="", rank=rank, engine=engine)

    a = [hit("https://x/1", 1, "a"), hit("https://x/2", 2, "a")]
    b = [hit("https://x/2/", 1, "b"), hit("https://x/3", 2, "b")]
    fused = rrf_fuse([a, b], 10)
    assert [h.url for h in fused] == ["https://x/2", "https://x/1", "https://x/3"]
    assert fused[0].engine == "a+b"


def test_configuration_and_hints():
    search = SearchConfig()
    assert configured_engines(search, {}) == []  # DuckDuckGo alone is not a configuration
    assert configured_engines(search, {"BRAVE_API_KEY": "k"}) == ["brave", "duckduckgo"]
    assert configured_engines(SearchConfig(engines=("duckduckgo",)), {}) == ["duckduckgo"]
    assert configured_engines(search, {"SEARXNG_URL": "http://127.0.0.1:8888", **KEYS}) == list(ALL)
    client = httpx.AsyncClient()
    with pytest.raises(ConfigError) as info:
        make_engine("brave", search, client, environ={})
    assert "BRAVE_API_KEY" in str(info.value)
    for engines in (("searxng", "serpapi"), ALL):
        with pytest.raises(ConfigError) as info:
            make_engine("auto", SearchConfig(engines=engines), client, environ={})
        assert "SEARXNG_URL" in str(info.value) and "--corpus" in str(info.value)
        assert "--engine duckduckgo" in str(info.value)
    assert make_engine("duckduckgo", search, client, environ={}).name == "duckduckgo"
    with pytest.raises(ConfigError):
        make_engine("bing", search, client, environ={})
    with pytest.raises(ConfigError) as info:
        make_engine("local", search, client, environ={})
    assert "--corpus" in str(info.value)
    with pytest.raises(ConfigError):
        configured_engines(SearchConfig(engines=("yahoo",)), {})
    assert (
        make_engine("searxng", SearchConfig(searxng_url="http://h:1"), client, environ={}).name == "searxng"
    )
