"""The web page in a real headless Chromium (Debian's package), driven by Playwright: type a
question, wait for the streamed answer, follow a citation to its source."""

import re
import shutil

import pytest

pytest.importorskip("sse_starlette")
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from webglm.retriever.testing import FakeSearchAPI, PageServer  # noqa: E402
from webglm.serve import create_app  # noqa: E402
from webglm.serve.testing import running, web_pipeline  # noqa: E402

expect = sync_api.expect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
PAGE = "<html><head><title>{t}</title></head><body><article><h1>{t}</h1><p>{b}</p></article></body></html>"


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBGLM_CACHE", str(tmp_path / "cache"))
    with PageServer() as pages, FakeSearchAPI() as api:
        url = pages.add("/pharos.html", PAGE.format(
            t="The Pharos of Alexandria", b="The Pharos of Alexandria was a lighthouse built by the Ptolemaic "
            "Kingdom in the third century BC. It guided ships into the harbour of Alexandria for centuries."))
        api.results = [{"url": url, "title": "The Pharos of Alexandria", "snippet": "lighthouse"},
                       {"url": pages.url + "/status/500", "title": "Broken", "snippet": "fails"}]
        glm = web_pipeline(pages, api)
        with running(create_app(glm, keys=("page-key",)), glm.config.serve) as base:
            yield base, url


@pytest.fixture
def browser_page(tmp_path):
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield context
        finally:
            context.close()


def _ask(page, question: str) -> None:
    page.fill("#question", question)
    page.press("#question", "Enter")
    expect(page.locator("#go")).to_be_enabled(timeout=30_000)


def test_question_streamed_answer_and_citation_to_source(site, browser_page):
    base, source_url = site
    page = browser_page.new_page()
    page.goto(base + "/")
    page.click("#keybox summary")
    page.fill("#key", "page-key")
    page.dispatch_event("#key", "change")
    _ask(page, "Who built the Pharos of Alexandria?")
    expect(page.locator("#status")).to_have_text(re.compile(r"^Answered"))
    assert "Ptolemaic" in page.inner_text("#answer")
    cite = page.locator("#answer a.cite").first
    assert cite.inner_text() == "[1]"
    cite.click()
    assert page.url.endswith("#src-1")
    expect(page.locator("#src-1")).to_have_class(re.compile(r"\bhl\b"))
    assert "Ptolemaic" in page.inner_text("#src-1 blockquote")
    assert "could not be read" in page.inner_text("#notes")  # the failed page is said, not hidden
    with browser_page.expect_page() as popup:
        page.click("#src-1 a.source")
    source = popup.value
    source.wait_for_load_state()
    assert source.url == source_url
    assert "Ptolemaic" in source.inner_text("body")


def test_failures_and_abstentions_are_shown(site, browser_page):
    base, _ = site
    page = browser_page.new_page()
    page.goto(base + "/")
    _ask(page, "Who built the Pharos of Alexandria?")  # no key yet
    expect(page.locator("#answer")).to_have_class("failed")
    assert "API key is required" in page.inner_text("#answer") and "(401)" in page.inner_text("#answer")
    page.click("#keybox summary")
    page.fill("#key", "page-key")
    page.dispatch_event("#key", "change")
    _ask(page, "How many moons does Jupiter have?")
    expect(page.locator("#answer")).to_have_class("abstained")
    assert "No answer" in page.inner_text("#notes")
    expect(page.locator("#status")).to_have_text("Abstained.")
