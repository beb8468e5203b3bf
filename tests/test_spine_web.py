"""`webglm ask --engine searxng` end to end against local servers (loopback only)."""

import re

import pytest
from typer.testing import CliRunner

from webglm.cli import app
from webglm.retriever.testing import FakeSearchAPI, PageServer
from webglm.types import answer_from_json

PAGE = """<html><head><title>{title}</title></head><body><nav>Home | About | Login</nav>
<article><h1>{title}</h1><p>{body}</p></article><footer>Copyright 2024</footer></body></html>"""


@pytest.fixture
def web(monkeypatch, tmp_path):
    monkeypatch.setenv("WEBGLM_CACHE", str(tmp_path / "cache"))
    with PageServer() as pages, FakeSearchAPI() as api:
        pages.add("/lighthouse.html", PAGE.format(
            title="Lighthouses", body="The Pharos of Alexandria was a lighthouse built by the Ptolemaic "
            "Kingdom in the third century BC. It stood more than one hundred metres tall and guided ships "
            "into the harbour of Alexandria for centuries before earthquakes destroyed it."))
        pages.add("/bread.html", PAGE.format(
            title="Sourdough", body="Sourdough bread rises because wild yeast and lactic acid bacteria in the "
            "starter ferment the flour, producing carbon dioxide and a sour taste."))
        api.results = [
            {"url": pages.url + "/lighthouse.html", "title": "Lighthouses", "snippet": "Pharos of Alexandria"},
            {"url": pages.url + "/status/500", "title": "Broken", "snippet": "A page that fails to load."},
            {"url": pages.url + "/bread.html", "title": "Sourdough", "snippet": "wild yeast"},
            {"url": "http://169.254.169.254/latest/meta-data/", "title": "Metadata", "snippet": "not allowed"},
        ]
        monkeypatch.setenv("SEARXNG_URL", api.url + "/searxng")
        yield pages


def test_ask_searxng_cites_fetched_pages(web):
    host = web.url.split("//", 1)[1]
    res = CliRunner().invoke(app, ["ask", "Who built the Pharos of Alexandria?", "--engine", "searxng",
                                   "--allow-host", host, "--backend", "echo", "--set", "rank.encoder=hash",
                                   "--json", "-q"])
    assert res.exit_code == 0, res.output
    answer = answer_from_json(res.stdout)
    assert not answer.abstained
    assert "Ptolemaic" in answer.text
    urls = {r.passage.url for r in answer.references}
    assert any(u.endswith("/lighthouse.html") for u in urls)
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    assert cited and cited <= {r.index for r in answer.references}
    kinds = {(f.kind, f.url.rsplit("/", 1)[-1]) for f in answer.trace.failures}
    assert any(k.startswith("http_500") for k, _ in kinds)
    assert any(k.startswith("blocked") for k, _ in kinds)
    assert "fetch" in answer.trace.timings and "search" in answer.trace.timings


def _ask_json(web_pages, *extra, status: int = 0):
    host = web_pages.url.split("//", 1)[1]
    res = CliRunner().invoke(app, ["ask", "Who built the Pharos of Alexandria?", "--engine", "searxng",
                                   "--allow-host", host, "--backend", "echo", "--set", "rank.encoder=hash",
                                   "--json", "-q", *extra])
    assert res.exit_code == status, res.output
    return answer_from_json(res.stdout)


@pytest.fixture
def search(monkeypatch, tmp_path):
    monkeypatch.setenv("WEBGLM_CACHE", str(tmp_path / "cache"))
    with PageServer() as pages, FakeSearchAPI() as api:
        monkeypatch.setenv("SEARXNG_URL", api.url + "/searxng")
        yield pages, api


def test_abstention_says_the_search_failed(search):
    pages, api = search
    api.modes = {"searxng": "500"}
    answer = _ask_json(pages, status=1)  # the answer says why; the status says the search failed
    assert answer.abstained and answer.text.startswith("The web search failed (")
    assert "searxng" in answer.text and any(e.startswith("abstained: web search failed") for e in answer.trace.events)


def test_abstention_says_the_search_found_nothing(search):
    pages, api = search
    api.modes = {"searxng": "empty"}
    answer = _ask_json(pages)
    assert answer.abstained and "returned no results" in answer.text


def test_abstention_says_no_page_could_be_read(search):
    pages, api = search
    api.results = [{"url": pages.url + "/status/500", "title": "Broken", "snippet": "A page that fails."},
                   {"url": pages.url + "/status/404", "title": "Gone", "snippet": "Another one."}]
    answer = _ask_json(pages, "--set", "search.keep_snippets=false")
    assert answer.abstained and answer.text.startswith("None of the 2 search results could be read")
    assert {f.kind for f in answer.trace.failures} >= {"http_500", "http_404"}
