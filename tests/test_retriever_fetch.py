"""The hardened fetcher against hostile local servers: caps, budgets, types, statuses, retries."""

import asyncio
import gzip
import time
import tracemalloc

import pytest

from webglm.config import FetchConfig
from webglm.retriever.client import make_fetch_client
from webglm.retriever.fetch import Fetcher
from webglm.errors import FetchError
from webglm.retriever import extract as extract_fn
from webglm.retriever.testing import PageServer, minimal_pdf

GOOD = (
    "<html><head><title>Good</title></head><body><p>"
    + "Useful text about the topic. " * 20
    + "</p></body></html>"
)


@pytest.fixture
def pages():
    with PageServer() as server:
        yield server


def _config(pages, **kw):
    kw.setdefault("page_timeout", 5.0)
    return FetchConfig(allow_hosts=(f"127.0.0.1:{pages.port}",), **kw)


async def _fetch(config, urls):
    async with make_fetch_client(config) as client:
        return await Fetcher(client, config).fetch_many(urls)


async def test_good_page_and_error_statuses(pages):
    good = pages.add("/good.html", GOOD)
    urls = [good] + [pages.url + f"/status/{code}" for code in (403, 404, 500)] + [pages.url + "/missing"]
    result = await _fetch(_config(pages, retries=0), urls)
    assert [p.url for p in result.pages] == [good]
    page = result.pages[0]
    assert page.status == 200 and page.content_type == "text/html" and "Useful text" in page.text
    assert [f.kind for f in result.failures] == ["http_403", "http_404", "http_500", "http_404"]
    assert all(f.url and f.stage == "fetch" for f in result.failures)


async def test_slow_page_does_not_delay_the_stage_past_its_budget(pages):
    good = pages.add("/good.html", GOOD)
    config = _config(pages, stage_budget=1.0, page_timeout=60.0, total_timeout=60.0)
    start = time.monotonic()
    result = await _fetch(config, [pages.url + "/slow/30", good])
    elapsed = time.monotonic() - start
    assert elapsed < 3.0, elapsed
    assert [p.url for p in result.pages] == [good]
    assert result.failures[0].kind == "budget"


async def test_page_timeout_without_any_page(pages):
    config = _config(pages, page_timeout=0.5, retries=0)
    start = time.monotonic()
    result = await _fetch(config, [pages.url + "/slow/30"])
    assert time.monotonic() - start < 2.5
    assert result.failures[0].kind == "timeout"


async def test_total_timeout_caps_the_stage(pages):
    config = _config(pages, page_timeout=30.0, total_timeout=1.0)
    start = time.monotonic()
    result = await _fetch(config, [pages.url + "/slow/30"])
    assert time.monotonic() - start < 2.5
    assert result.failures[0].kind == "budget"


async def test_connection_reset_is_a_failure(pages):
    result = await _fetch(_config(pages, retries=0), [pages.url + "/reset"])
    assert result.failures[0].kind in ("network", "error")
    assert not result.pages


async def test_two_gigabyte_body_is_capped_with_bounded_memory(pages):
    config = _config(pages, max_bytes=2 * 1024 * 1024)
    tracemalloc.start()
    try:
        result = await _fetch(config, [pages.url + "/huge/2147483648"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.failures[0].kind == "too_large"
    assert peak < 40 * 1024 * 1024, peak


async def test_declared_huge_length_refused_before_reading(pages):
    result = await _fetch(_config(pages), [pages.url + "/huge/2147483648?declare=1"])
    assert result.failures[0].kind == "too_large"
    assert "declared" in result.failures[0].detail


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_compression_bomb_is_capped_with_bounded_memory(pages, encoding):
    config = _config(pages, max_decompressed_bytes=8 * 1024 * 1024)
    tracemalloc.start()
    try:
        result = await _fetch(config, [pages.url + f"/bomb/10737418240?encoding={encoding}"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.failures[0].kind == "too_large"
    assert "decompressed" in result.failures[0].detail
    assert peak < 40 * 1024 * 1024, peak


async def test_gzip_page_is_decoded(pages):
    url = pages.add("/gz.html", gzip.compress(GOOD.encode()), headers={"Content-Encoding": "gzip"})
    result = await _fetch(_config(pages), [url])
    assert "Useful text" in result.pages[0].text


async def test_wrong_content_type_and_binary_body(pages):
    urls = [pages.url + "/type/application_zip", pages.url + "/type/image_png", pages.url + "/binary"]
    result = await _fetch(_config(pages), urls)
    assert [f.kind for f in result.failures] == ["content_type"] * 3
    result = await _fetch(_config(pages, pdf=False), [pages.url + "/type/application_pdf"])
    assert [f.kind for f in result.failures] == ["content_type"]


async def test_pdf_is_fetched_and_extracted(pages):
    pytest.importorskip("pypdf")
    good = pages.add(
        "/paper.pdf",
        minimal_pdf(["The Iliad is an epic poem.", "Homer (c) tradition."], "Iliad notes"),
        ctype="application/pdf",
    )
    result = await _fetch(_config(pages), [good, pages.url + "/type/application_pdf"])
    assert [p.content_type for p in result.pages] == ["application/pdf"] * 2
    title, text = extract_fn(result.pages[0], timeout=10)
    assert title == "Iliad notes" and text == "The Iliad is an epic poem.\nHomer (c) tradition."
    with pytest.raises(FetchError) as info:
        extract_fn(result.pages[1], timeout=10)
    assert info.value.kind == "extract_pdf" and info.value.stage == "extract"


async def test_redirects_followed_and_limited(pages):
    target = pages.add("/target.html", GOOD)
    config = _config(pages, max_redirects=3)
    result = await _fetch(config, [pages.url + "/redirect?to=/target.html", pages.url + "/loop/0"])
    assert result.pages[0].final_url == target and result.pages[0].url != target
    assert result.failures[0].kind == "redirects"


async def test_retry_on_503_respects_retry_after_within_budget(pages):
    calls = []
    original = pages.handle

    def flaky(handler, path, query):
        if path == "/flaky":
            calls.append(time.monotonic())
            if len(calls) == 1:
                return handler.send(503, "busy", "text/plain", Retry_After="1")
            return handler.send(200, GOOD)
        return original(handler, path, query)

    pages.handle = flaky
    result = await _fetch(_config(pages, retries=1), [pages.url + "/flaky"])
    assert len(result.pages) == 1 and len(calls) == 2
    assert calls[1] - calls[0] >= 0.9


async def test_no_retry_when_retry_after_exceeds_the_page_deadline(pages):
    pages.add("/busy", "busy", status=429, ctype="text/plain", headers={"Retry-After": "60"})
    start = time.monotonic()
    result = await _fetch(_config(pages, retries=3), [pages.url + "/busy"])
    assert time.monotonic() - start < 1.5
    assert result.failures[0].kind == "http_429"
    assert sum(1 for r in pages.requests if r[1] == "/busy") == 1


async def test_charset_detection(pages):
    text = (
        "<html><body><p>Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e, na\u00efve fa\u00e7ade. " * 10
        + "</p></body></html>"
    )
    meta = "<html><head><meta charset='iso-8859-1'></head><body><p>Gr\u00fc\u00dfe aus K\u00f6ln</p>"
    urls = [
        pages.add("/latin1.html", text.encode("latin-1"), ctype="text/html"),
        pages.add("/header.html", text.encode("cp1252"), ctype="text/html; charset=windows-1252"),
        pages.add("/meta.html", meta.encode("latin-1"), ctype="text/html"),
        pages.add("/plain.txt", "plain \u2713 text".encode(), ctype="text/plain; charset=utf-8"),
    ]
    result = await _fetch(_config(pages), urls)
    texts = [p.text for p in result.pages]
    assert "Caf\u00e9 cr\u00e8me" in texts[0] and "Caf\u00e9 cr\u00e8me" in texts[1]
    assert "Gr\u00fc\u00dfe aus K\u00f6ln" in texts[2]
    assert result.pages[3].content_type == "text/plain" and "\u2713" in texts[3]


async def test_robots_txt_is_honoured_when_enabled(pages):
    pages.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", ctype="text/plain")
    ok = pages.add("/public.html", GOOD)
    private = pages.add("/private/x.html", GOOD)
    result = await _fetch(_config(pages, robots=True), [ok, private])
    assert [p.url for p in result.pages] == [ok]
    assert result.failures[0].kind == "robots"
    result = await _fetch(_config(pages, robots=False), [private])
    assert len(result.pages) == 1


async def test_user_agent_and_concurrency(pages):
    urls = [pages.url + f"/slow/0.2?page={i}" for i in range(8)]
    result = await _fetch(_config(pages, per_host=2), urls)
    assert len(result.pages) == 8
    agents = {r[2].get("User-Agent") for r in pages.requests}
    assert agents == {FetchConfig().user_agent}
    assert pages.most_at_once() == 2  # per_host caps the requests in flight, and both slots were used


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
