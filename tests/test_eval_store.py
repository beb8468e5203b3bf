import asyncio
import sqlite3

import pytest

from webglm.config import ChunkConfig, FetchConfig, SearchConfig
from webglm.errors import EvalError, SearchError
from webglm.eval.store import RecordingSearchEngine, RecordReplayStore, ReplaySearchEngine
from webglm.retriever import client as client_mod
from webglm.retriever import core
from webglm.retriever import testing
from webglm.testing import FakeSearchEngine
from webglm.types import Page, SearchHit

HITS = [SearchHit("https://a.example/x", "Ä title", "snippet ü", 1, "fake"),
        SearchHit("https://b.example/y", "B", "", 2, "fake")]
PAGE = Page("https://a.example/x", "https://a.example/x?final", 200, "text/html", "<p>héllo</p>", 1700000000.5, "T")


def test_round_trip_hits_and_pages(tmp_path):
    db = tmp_path / "cache.sqlite"
    with RecordReplayStore(db, snapshot="2026-01-01") as rec:
        rec.put_hits("fake", "who?", HITS)
        rec.put_page(PAGE)
        rec.put_failure("https://b.example/y", "timeout", "5 s")
        assert rec.get_hits("fake", "who?") == HITS  # a recording reuses its own snapshot
    with RecordReplayStore(db, mode="replay") as rep:
        assert rep.replay
        assert rep.get_hits("fake", "who?") == HITS
        assert rep.get_page(PAGE.url) == PAGE
        assert rep.get_page("https://b.example/y") is None
        assert rep.get_failure("https://b.example/y").kind == "timeout"
        assert rep.misses == []  # a recorded failure is not a cache miss
        assert rep.get_hits("fake", "unknown?") is None and rep.get_page("https://c.example/") is None
        assert [(m.stage, m.kind) for m in rep.misses] == [("search", "replay_miss"), ("fetch", "replay_miss")]
        assert rep.stats() == {"hits": 1, "pages": 1, "failures": 1, "served": 2, "misses": 2}


def test_replay_never_writes_and_needs_an_existing_cache(tmp_path):
    db = tmp_path / "cache.sqlite"
    with pytest.raises(EvalError, match="replay cache not found"):
        RecordReplayStore(db, mode="replay")
    RecordReplayStore(db).close()
    before = db.read_bytes() if db.exists() else b""
    with RecordReplayStore(db, mode="replay") as rep:
        rep.put_page(PAGE)
        rep.put_hits("fake", "q", HITS)
        assert rep.get_page(PAGE.url) is None
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM pages").fetchone()[0] == 0
    assert db.read_bytes() == before
    with pytest.raises(EvalError, match="unknown store mode"):
        RecordReplayStore(db, mode="live")


def test_snapshots_latest_and_pinned_and_first_write_wins(tmp_path):
    db = tmp_path / "cache.sqlite"
    old = Page(PAGE.url, PAGE.url, 200, "text/html", "old", 1.0)
    new = Page(PAGE.url, PAGE.url, 200, "text/html", "new", 2.0)
    with RecordReplayStore(db, snapshot="2026-01-01") as rec:
        rec.put_page(old)
        rec.put_page(new)  # same snapshot: the first recording stays
    with RecordReplayStore(db, snapshot="2026-02-01") as rec:
        rec.put_page(new)
    with RecordReplayStore(db, mode="replay") as rep:
        assert rep.get_page(PAGE.url).text == "new"
    with RecordReplayStore(db, mode="replay", snapshot="2026-01-01") as rep:
        assert rep.get_page(PAGE.url).text == "old"


def test_recording_and_replay_search_engines(tmp_path):
    db = tmp_path / "cache.sqlite"
    live = FakeSearchEngine(HITS)
    with RecordReplayStore(db) as rec:
        eng = RecordingSearchEngine(live, rec)
        first = asyncio.run(eng.search("q", 10))
        again = asyncio.run(eng.search("q", 1))
    assert live.queries == ["q"] and again == first[:1]
    with RecordReplayStore(db, mode="replay") as rep:
        eng = ReplaySearchEngine(rep, "fake")
        assert asyncio.run(eng.search("q", 10)) == first
        with pytest.raises(SearchError, match="replay cache"):
            asyncio.run(eng.search("never recorded", 10))


_HTML = ("<html><head><title>{t}</title></head><body><article>"
         "<p>{t} is a topic that this page explains in several sentences of plain text for testing.</p>"
         "<p>The second paragraph of the {t} page adds more detail so the extractor keeps it as content.</p>"
         "</article></body></html>")


def test_replayed_retrieval_equals_recorded_retrieval(tmp_path):
    """With the web retriever: record against loopback pages, stop the server, replay offline."""
    db = tmp_path / "cache.sqlite"

    async def retrieve(retriever, question):
        return await retriever.retrieve(question)

    with testing.PageServer() as server:
        urls = [server.add(f"/{t}.html", _HTML.format(t=t)) for t in ("alpha", "beta", "gamma")]
        urls.append(server.url + "/status/500")
        hits = [SearchHit(u, f"hit {i}", f"snippet {i}", i + 1, "fake") for i, u in enumerate(urls)]
        fetch = FetchConfig(allow_hosts=(f"127.0.0.1:{server.port}",), retries=0)

        async def record():
            client = client_mod.make_fetch_client(fetch)
            try:
                with RecordReplayStore(db) as store:
                    r = core.WebRetriever(SearchConfig(), fetch, ChunkConfig(), engine=FakeSearchEngine(hits),
                                          fetch_client=client, page_store=store)
                    return await retrieve(r, "what is alpha?")
            finally:
                await client.aclose()

        recorded = asyncio.run(record())
        connections = server.connections

        async def replay():
            # a live client that could reach the server: only the store may answer
            client = client_mod.make_fetch_client(fetch)
            try:
                with RecordReplayStore(db, mode="replay") as store:
                    engine = FakeSearchEngine([], fail="the live engine must not be called")
                    r = core.WebRetriever(SearchConfig(), fetch, ChunkConfig(), engine=engine,
                                          fetch_client=client, page_store=store, replay=True)
                    return await retrieve(r, "what is alpha?"), engine.queries, store.misses
            finally:
                await client.aclose()

        replayed, queries, misses = asyncio.run(replay())
        replay_connections = server.connections
    assert len(recorded.passages) >= 3 and any(p.source == "snippet" for p in recorded.passages)
    assert replayed.hits == recorded.hits
    assert replayed.passages == recorded.passages  # identical retrieval, offline
    assert queries == [] and replay_connections == connections  # the server was up and never asked
    assert misses == []  # the page that failed live was recorded as a failure, not missed
    live = [f for f in recorded.failures if f.url == urls[3]]
    again = [f for f in replayed.failures if f.url == urls[3]]
    assert live and [(f.stage, f.kind) for f in again] == [(f.stage, f.kind) for f in live]  # same failure


def test_recording_reads_the_store_first(tmp_path):
    """A page that changes between two questions of one recording is served as first recorded,
    and a question asked again reuses its recorded search results."""
    db = tmp_path / "cache.sqlite"
    with testing.PageServer() as server:
        url = server.add("/p.html", _HTML.format(t="alpha"))
        engine = FakeSearchEngine([SearchHit(url, "hit", "snippet", 1, "fake")])
        fetch = FetchConfig(allow_hosts=(f"127.0.0.1:{server.port}",), retries=0)

        async def record(question):
            client = client_mod.make_fetch_client(fetch)
            try:
                with RecordReplayStore(db) as store:
                    r = core.WebRetriever(SearchConfig(), fetch, ChunkConfig(), engine=engine,
                                          fetch_client=client, page_store=store)
                    return await r.retrieve(question)
            finally:
                await client.aclose()

        first = asyncio.run(record("what is alpha?"))
        server.add("/p.html", _HTML.format(t="omega"))  # the live page changes mid-recording
        page_requests = sum(1 for r in server.requests if r[1] == "/p.html")
        second = asyncio.run(record("tell me about alpha"))
        again = asyncio.run(record("what is alpha?"))
        assert sum(1 for r in server.requests if r[1] == "/p.html") == page_requests  # not fetched again
    texts = lambda r: [p.text for p in r.passages if p.source != "snippet"]  # noqa: E731
    assert texts(first) and texts(second) == texts(first) and "omega" not in " ".join(texts(second))
    assert engine.queries == ["what is alpha?", "tell me about alpha"]  # the repeat was answered by the store
    assert again.passages == first.passages
