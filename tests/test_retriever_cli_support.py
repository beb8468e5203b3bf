"""CLI helpers: flag overrides, one-shot retrieval through a fresh event loop, rendering; per-host limits."""

import asyncio
import time

from webglm.config import FetchConfig, load_config
from webglm.retriever.cli_support import render_retrieval, retrieve_once, retriever_overrides
from webglm.retriever.client import make_fetch_client
from webglm.retriever.fetch import Fetcher
from webglm.retriever.testing import FakeSearchAPI, PageServer

PAGE = (
    "<html><head><title>Bread</title></head><body><p>"
    + "Sourdough bread needs a starter culture. " * 8
    + "</p>"
)


def test_overrides_from_flags():
    assert retriever_overrides() == {}
    got = retriever_overrides(
        engine="searxng", allow_hosts=["127.0.0.1:8080"], fuse=True, chunk_mode="webglm-compat"
    )
    cfg = load_config(overrides=got, environ={})
    assert cfg.search.engine == "searxng" and cfg.search.fuse
    assert cfg.fetch.allow_hosts == ("127.0.0.1:8080",) and cfg.chunk.mode == "webglm-compat"


def test_retrieve_once_in_fresh_event_loops():
    with PageServer() as pages, FakeSearchAPI() as api:
        url = pages.add("/bread.html", PAGE)
        api.results = [{"url": url, "title": "Bread", "snippet": "starter"}]
        overrides = retriever_overrides(engine="searxng", allow_hosts=[f"127.0.0.1:{pages.port}"])
        cfg = load_config(overrides={**overrides, "search.searxng_url": api.url + "/searxng"}, environ={})
        for _ in range(2):  # a second asyncio.run must work too (no loop-bound state left behind)
            result = asyncio.run(retrieve_once("how is sourdough made", cfg, environ={}))
            assert result.passages[0].url == url
        text = render_retrieval(result)
        assert "Sourdough bread" in text and "timings:" in text and "[1] Bread" in text


def test_fetcher_reused_across_event_loops_and_per_host_limit():
    with PageServer() as pages:
        urls = [pages.url + f"/slow/0.3?i={i}" for i in range(6)]
        config = FetchConfig(allow_hosts=(f"127.0.0.1:{pages.port}",), per_host=2)

        async def run(fetcher_box):
            async with make_fetch_client(config) as client:
                fetcher_box.setdefault("f", Fetcher(client, config)).client = client
                start = time.monotonic()
                result = await fetcher_box["f"].fetch_many(urls)
                return time.monotonic() - start, result

        box = {}
        for _ in range(2):
            elapsed, result = asyncio.run(run(box))
            assert len(result.pages) == 6
            assert elapsed >= 0.85, elapsed  # 6 pages, 2 at a time, 0.3 s each


def test_importing_the_retriever_is_light():
    import subprocess
    import sys

    code = (
        "import sys, webglm.retriever; "
        "heavy = [m for m in ('torch', 'transformers', 'trafilatura', 'bs4', 'pypdf') if m in sys.modules]; "
        "print(heavy)"
    )
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "[]"
