"""MCP tools `ask` and `search`, called from the official SDK's client: over stdio
(`webglm mcp` as a subprocess) and over streamable HTTP (`/mcp` under `webglm serve`)."""

import os
import sys
from pathlib import Path

import pytest

mcp = pytest.importorskip("mcp")

from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402

from webglm.serve import create_app  # noqa: E402
from webglm.serve.testing import RIVERS, corpus_pipeline, running  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "Which river flows north into the Mediterranean Sea?"


def _structured(result) -> dict:
    assert not result.is_error, result
    return result.structured_content


async def test_ask_and_search_over_stdio(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "rivers.md").write_text(RIVERS)
    env = {**os.environ, "WEBGLM_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    params = StdioServerParameters(command=sys.executable, cwd=str(ROOT), env=env,
                                   args=["-m", "webglm", "mcp", "--corpus", str(corpus), "--set", "generate.backend=echo",
                                         "--set", "rank.encoder=hash"])
    async with Client(params) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"ask", "search"} <= names
        answer = _structured(await client.call_tool("ask", {"question": QUESTION}))
        assert "Nile" in answer["answer"] and "[1]" in answer["answer"] and not answer["abstained"]
        assert answer["references"][0]["title"] == "Rivers"
        found = _structured(await client.call_tool("search", {"question": QUESTION, "k": 3}))
        assert found["passages"] and "Mediterranean" in found["passages"][0]["text"]
        bad = await client.call_tool("ask", {"question": "   "})
        assert bad.is_error and "empty" in str(bad.content)


async def test_ask_over_streamable_http_with_a_key(tmp_path):
    glm = corpus_pipeline(tmp_path / "c")
    with running(create_app(glm, keys=("mcp-key",)), glm.config.serve) as url:
        import httpx2

        http = httpx2.AsyncClient(headers={"Authorization": "Bearer mcp-key"}, timeout=30)
        from mcp.client.streamable_http import streamable_http_client

        async with Client(streamable_http_client(url + "/mcp", http_client=http)) as client:
            answer = _structured(await client.call_tool("ask", {"question": QUESTION}))
        assert "Nile" in answer["answer"]
