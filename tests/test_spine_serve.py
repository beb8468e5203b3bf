"""`webglm serve`: a real uvicorn server on loopback, driven over HTTP with httpx."""

import json

import httpx
import pytest

pytest.importorskip("uvicorn")
from webglm import WebGLM, load_config  # noqa: E402
from webglm.serve import create_app  # noqa: E402
from webglm.serve.testing import running  # noqa: E402
from webglm.testing import HashEncoder  # noqa: E402
from webglm.types import Answer, from_dict  # noqa: E402


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBGLM_CACHE", str(tmp_path / "cache"))
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.md").write_text("# Rivers\n\nThe Nile is the longest river in Africa and flows north into "
                                 "the Mediterranean Sea.\n\nThe Amazon carries more water than any other river.\n")
    cfg = load_config(overrides={"generate.backend": "echo"})
    glm = WebGLM(cfg, corpus=corpus, encoder=HashEncoder())
    glm.load()
    with running(create_app(glm), cfg.serve) as url:
        yield url


def test_ask_endpoint(server):
    r = httpx.post(f"{server}/v1/ask", json={"question": "Which river flows into the Mediterranean?"}, timeout=30)
    assert r.status_code == 200
    answer = from_dict(Answer, r.json())
    assert answer.references and answer.citations
    assert set(answer.citations) <= {ref.index for ref in answer.references}
    assert httpx.get(f"{server}/health").json()["status"] == "ok"


def test_bad_requests(server):
    assert httpx.post(f"{server}/v1/ask", content=b"not json").status_code == 400
    r = httpx.post(f"{server}/v1/ask", json={"question": "   "})
    assert r.status_code == 400 and "empty" in r.json()["error"]


def test_stream_endpoint(server):
    kinds = []
    with httpx.stream("POST", f"{server}/v1/ask/stream", json={"question": "Which river carries more water than any other river?"},
                      timeout=30) as r:
        for line in r.iter_lines():
            if line.startswith("event: "):
                kinds.append(line[7:])
            elif line.startswith("data: ") and kinds[-1] == "final":
                final = json.loads(line[6:])
    assert kinds[0] == "references" and kinds[-1] == "final"
    assert "token" in kinds
    assert final["answer"]["references"]
