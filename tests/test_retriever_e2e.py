"""WebRetriever end to end: fake SearXNG + local page server, failures, snippets, record/replay."""

import json
import time

import pytest

from webglm.config import ChunkConfig, FetchConfig, SearchConfig
from webglm.protocols import PageStore
from webglm.retriever import WebRetriever, make_clients, make_engine
from webglm.retriever.testing import FakeSearchAPI, PageServer
from webglm.testing import FakeSearchEngine, MemoryPageStore

ARTICLE = "<html><head><title>{title}</title></head><body><article><p>{body}</p></article></body></html>"
ILIAD = " ".join(
    ["The Iliad is an ancient Greek epic poem traditionally attributed to Homer."] * 3
    + ["It is set during the Trojan War, the ten-year siege of the city of Troy."] * 3
)


@pytest.fixture
def servers():
    with PageServer() as pages, FakeSearchAPI() as api:
        yield pages, api


def _setup(pages, api, **fetch_kw):
    search = SearchConfig(searxng_url=api.url + "/searxng", engines=("searxng",))
    fetch = FetchConfig(allow_hosts=(f"127.0.0.1:{pages.port}",), **fetch_kw)
    return search, fetch


async def _retrieve(search, fetch, question="who wrote the iliad", chunk=None, **kw):
    api_client, fetch_client = make_clients(fetch, search)
    try:
        engine = make_engine("searxng", search, api_client, environ={})
        retriever = WebRetriever(search, fetch, chunk or ChunkConfig(), engine=engine, fetch_client=fetch_client,
                                 **kw)
        return await retriever.retrieve(question)
    finally:
        await api_client.aclose()
        await fetch_client.aclose()


async def test_answer_material_comes_from_the_good_pages(servers):
    pages, api = servers
    good = pages.add("/iliad.html", ARTICLE.format(title="Iliad", body=ILIAD))
    bad = {code: pages.url + f"/status/{code}" for code in (403, 404, 500)}
    api.results = (
        [{"url": good, "title": "Iliad - Wiki", "snippet": "epic poem"}]
        + [{"url": u, "title": f"Broken {c}", "snippet": f"snippet of the {c} page"} for c, u in bad.items()]
        + [
            {"url": pages.url + "/binary", "title": "Binary", "snippet": "binary snippet"},
            {"url": pages.url + "/slow/30", "title": "Slow", "snippet": "slow snippet"},
        ]
    )
    search, fetch = _setup(pages, api, stage_budget=1.0, retries=0)
    start = time.monotonic()
    result = await _retrieve(search, fetch)
    assert time.monotonic() - start < 5.0
    web = [p for p in result.passages if p.source == "web"]
    assert web and all(p.url == good for p in web) and "Homer" in web[0].text
    assert web[0].title == "Iliad"
    snippets = {p.url: p.text for p in result.passages if p.source == "snippet"}
    assert snippets[bad[403]] == "snippet of the 403 page" and good not in snippets
    kinds = {f.url: f.kind for f in result.failures}
    assert kinds[bad[403]] == "http_403" and kinds[bad[404]] == "http_404" and kinds[bad[500]] == "http_500"
    assert kinds[pages.url + "/binary"] == "content_type" and kinds[pages.url + "/slow/30"] == "budget"
    assert set(result.timings) == {"search", "fetch", "extract"}
    assert len(result.hits) == 6 and any("searxng answered" in e for e in result.events)


async def test_saved_real_pages(servers, shared_data):
    pages, api = servers
    meta = json.loads((shared_data / "pages" / "pages.json").read_text(encoding="utf-8"))
    chosen = list(meta.items())[:8]
    for i, (url, info) in enumerate(chosen):
        body = (shared_data / "pages" / "html" / info["file"]).read_bytes()
        pages.add(f"/real{i}.html", body, ctype="text/html")
    api.results = [
        {"url": pages.url + f"/real{i}.html", "title": info.get("title", ""), "snippet": ""}
        for i, (_, info) in enumerate(chosen)
    ]
    search, fetch = _setup(pages, api)
    result = await _retrieve(search, fetch, "news")
    assert not [f for f in result.failures if f.stage == "fetch"]
    covered = {p.url for p in result.passages}
    assert len(covered) >= 7
    kept = total = 0
    for i, (_, info) in enumerate(chosen):
        text = " ".join(p.text for p in result.passages if p.url.endswith(f"/real{i}.html"))
        found = sum(" ".join(s.split()) in text for s in info["with"])
        assert found >= len(info["with"]) // 2, (i, found, len(info["with"]))
        kept, total = kept + found, total + len(info["with"])
    # measured 24 of 28 (0.857) through fetch, extraction and chunking, in threads or in worker
    # processes alike: the floor sits 0.017 below (23 of 28 fails it)
    assert kept / total >= 0.84, (kept, total)


async def test_record_then_replay_touches_no_network(servers):
    pages, api = servers
    good = pages.add("/iliad.html", ARTICLE.format(title="Iliad", body=ILIAD))
    api.results = [
        {"url": good, "title": "Iliad", "snippet": "epic"},
        {"url": pages.url + "/status/404", "title": "Gone", "snippet": "gone snippet"},
    ]
    search, fetch = _setup(pages, api, retries=0)
    store = MemoryPageStore()
    assert isinstance(store, PageStore)
    recorded = await _retrieve(search, fetch, page_store=store)
    assert store.pages and store.hits
    before = pages.connections + api.connections
    offline = FakeSearchEngine(name="searxng", fail="must not be called in replay")
    replayer = WebRetriever(
        search, fetch, ChunkConfig(), engine=offline, fetch_client=None, page_store=store, replay=True
    )
    replayed = await replayer.retrieve("who wrote the iliad")
    assert pages.connections + api.connections == before and offline.queries == []
    assert [p.id for p in replayed.passages] == [p.id for p in recorded.passages]
    # the page that failed while recording fails again on replay, with its own kind
    assert [(f.url, f.kind) for f in replayed.failures] == [(pages.url + "/status/404", "http_404")]
    missing = await replayer.retrieve("a question never recorded")
    assert missing.passages == () and missing.failures[0].kind == "replay_miss"


async def test_search_failure_is_recorded(servers):
    pages, api = servers
    api.modes = {"searxng": "500"}
    search, fetch = _setup(pages, api)
    result = await _retrieve(search, fetch)
    assert result.passages == () and result.failures[0].stage == "search"
    assert result.failures[0].kind == "http_500"



async def test_an_error_in_on_hits_settles_the_extraction_pool_start(servers):
    # on_hits is the caller's code: when it raises, the pool start running beside the search must
    # be settled (cancelled and awaited), not left pending behind the error.
    import asyncio

    pages, api = servers
    api.results = [{"url": pages.url + "/a.html", "title": "A", "snippet": "a"}]
    search, fetch = _setup(pages, api)
    api_client, fetch_client = make_clients(fetch, search)
    state = {"settled": False}

    async def slow_pool():
        try:
            await asyncio.sleep(5)
        finally:
            state["settled"] = True

    def boom(hits):
        raise ValueError("caller's callback failed")

    try:
        engine = make_engine("searxng", search, api_client, environ={})
        retriever = WebRetriever(search, fetch, ChunkConfig(), engine=engine, fetch_client=fetch_client)
        retriever._extract_pool = slow_pool  # type: ignore[method-assign]
        with pytest.raises(ValueError, match="callback failed"):
            await retriever.retrieve("who wrote the iliad", on_hits=boom)
        assert state["settled"]
    finally:
        await api_client.aclose()
        await fetch_client.aclose()

async def test_failover_reasons_reach_the_retrieval_events(servers):
    pages, api = servers
    good = pages.add("/iliad.html", ARTICLE.format(title="Iliad", body=ILIAD))
    api.results = [{"url": good, "title": "Iliad", "snippet": "epic"}]
    api.modes = {"searxng": "429"}
    search = SearchConfig(
        searxng_url=api.url + "/searxng",
        brave_url=api.url + "/brave/res/v1/web/search",
        engines=("searxng", "brave"),
    )
    fetch = FetchConfig(allow_hosts=(f"127.0.0.1:{pages.port}",))
    api_client, fetch_client = make_clients(fetch, search)
    try:
        engine = make_engine("auto", search, api_client, environ={"BRAVE_API_KEY": "k"})
        retriever = WebRetriever(search, fetch, ChunkConfig(), engine=engine, fetch_client=fetch_client)
        result = await retriever.retrieve("who wrote the iliad")
    finally:
        await api_client.aclose()
        await fetch_client.aclose()
    assert result.events[0].startswith("failover: searxng failed (rate_limited)")
    assert result.hits[0].engine == "brave" and result.passages[0].url == good


async def test_pdf_results_become_passages(servers):
    pytest.importorskip("pypdf")
    from webglm.retriever.testing import minimal_pdf

    pages, api = servers
    pdf = pages.add(
        "/iliad.pdf",
        minimal_pdf(["The Iliad is attributed to Homer by ancient tradition."], "Iliad"),
        ctype="application/pdf",
    )
    api.results = [{"url": pdf, "title": "Iliad (PDF)", "snippet": "pdf"}]
    search, fetch = _setup(pages, api)
    result = await _retrieve(search, fetch)
    assert [(p.source, p.title, p.text) for p in result.passages] == [
        ("web", "Iliad", "The Iliad is attributed to Homer by ancient tradition.")
    ]


async def test_a_page_cut_by_the_passage_guard_is_reported(servers):
    pages, api = servers
    body = " ".join(f"Troy had gate number {i} facing the plain." for i in range(80))
    url = pages.add("/long.html", ARTICLE.format(title="Troy", body=body))
    api.results = [{"url": url, "title": "Troy", "snippet": "gates"}]
    search, fetch = _setup(pages, api)
    result = await _retrieve(search, fetch, chunk=ChunkConfig(max_tokens=20, overlap_tokens=0, per_url_cap=3))
    assert len([p for p in result.passages if p.source == "web"]) == 3
    capped = [f for f in result.failures if f.kind == "capped"]
    assert len(capped) == 1 and capped[0].url == url and "kept the first 3 of" in capped[0].detail
