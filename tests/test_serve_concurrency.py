"""Concurrent requests: retrieval overlaps across requests, generation takes turns."""

import threading

import httpx
import pytest

pytest.importorskip("sse_starlette")

from webglm.retriever.testing import FakeSearchAPI  # noqa: E402
from webglm.serve import create_app  # noqa: E402
from webglm.serve.testing import SlowBackend, delayed_page_server, running, web_pipeline  # noqa: E402

PAGE = "<html><head><title>{t}</title></head><body><article><h1>{t}</h1><p>{b}</p></article></body></html>"


@pytest.fixture
def web(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBGLM_CACHE", str(tmp_path / "cache"))
    pages = delayed_page_server(1.0)
    api = FakeSearchAPI().start()
    url = pages.add("/pharos.html", PAGE.format(
        t="Lighthouses", b="The Pharos of Alexandria was a lighthouse built by the Ptolemaic Kingdom in the "
        "third century BC and it guided ships into the harbour of Alexandria for centuries."))
    api.results = [{"url": url, "title": "Lighthouses", "snippet": "Pharos"}]
    yield pages, api
    pages.stop()
    api.stop()


def _ask_all(url: str, n: int, path: str = "/v1/ask") -> list[httpx.Response]:
    out: list = [None] * n

    def one(i: int) -> None:
        out[i] = httpx.post(url + path, json={"question": f"Who built the Pharos of Alexandria? ({i})"}, timeout=60)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_page_fetches_of_concurrent_requests_overlap(web):
    pages, api = web
    glm = web_pipeline(pages, api, **{"serve.generation_slots": 1})
    with running(create_app(glm, keys=()), glm.config.serve) as url:
        answers = _ask_all(url, 4)
        assert [r.status_code for r in answers] == [200] * 4
        texts = [r.json()["text"] for r in answers]
        assert all("Ptolemaic" in t for t in texts), [(r.json()["trace"]["counters"], r.json()["trace"]["events"]) for r in answers]
        # A request-wide lock would keep one page request in flight at a time.
        assert pages.peak >= 3  # 4 unless the loaded machine started one request a second late
        health = httpx.get(url + "/health").json()["queue"]
        assert health["served"] == 4 and health["pending"] == 0 and health["slots"] == 1


def test_generation_is_serialised_and_queue_waits_are_traced(web):
    pages, api = web
    backend = SlowBackend(delay=0.01, words=30)
    peak = {"running": 0}
    original = backend._pieces

    def watched(prompt):
        peak["running"] = max(peak["running"], backend.running)
        yield from original(prompt)

    backend._pieces = watched
    glm = web_pipeline(pages, api, backend=backend, **{"serve.generation_slots": 1})
    with running(create_app(glm, keys=()), glm.config.serve) as url:
        answers = _ask_all(url, 3)
    assert [r.status_code for r in answers] == [200] * 3
    assert peak["running"] == 1
    counters = [r.json()["trace"]["counters"] for r in answers]
    assert all("queue_wait_s" in c and "queue_depth" in c for c in counters)
    # Three answers through one slot: at least one of them waited for another's generation.
    assert max(c["queue_wait_s"] for c in counters) > 0.1
