"""The OpenAI-compatible API, driven by the official `openai` client against a real server."""

import json
import re

import httpx
import pytest

openai = pytest.importorskip("openai")
pytest.importorskip("sse_starlette")

from webglm.serve import create_app  # noqa: E402
from webglm.serve.testing import corpus_pipeline, running  # noqa: E402

QUESTION = "Which river flows north into the Mediterranean Sea?"


@pytest.fixture
def server(tmp_path):
    glm = corpus_pipeline(tmp_path / "c")
    with running(create_app(glm, keys=("sk-test",)), glm.config.serve) as url:
        yield url


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key="sk-test", max_retries=0, timeout=30)


def test_models_lists_webglm(client):
    assert [m.id for m in client.models.list()] == ["webglm"]


def test_cited_answer(client):
    resp = client.chat.completions.create(model="webglm", messages=[{"role": "user", "content": QUESTION}])
    text = resp.choices[0].message.content
    assert "Nile" in text and "[1]" in text
    assert "\n\nSources:\n[1] Rivers <file:" in text
    refs = resp.model_extra["references"]
    assert refs[0]["index"] == 1 and refs[0]["title"] == "Rivers" and "Mediterranean" in refs[0]["quote"]
    assert any("Nile" in s for s in refs[0]["support"])
    assert resp.usage.completion_tokens > 0


def test_cited_answer_streamed(client):
    stream = client.chat.completions.create(model="webglm", stream=True,
                                            messages=[{"role": "user", "content": QUESTION}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert len(chunks) > 3 and "Nile" in text and re.search(r"\[1\]", text)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["references"][0]["index"] == 1


def test_open_webui_style_request(server):
    # System prompt, history, content parts and sampling parameters, as chat front ends send them.
    body = {"model": "webglm", "stream": False, "temperature": 0.7, "top_p": 0.9, "max_tokens": 512,
            "user": "u-1", "seed": 3, "stream_options": {"include_usage": True}, "metadata": {"chat_id": "c"},
            "messages": [{"role": "system", "content": "You are a helpful assistant."},
                         {"role": "user", "content": "hello"},
                         {"role": "assistant", "content": "Hi! Ask me anything."},
                         {"role": "user", "content": [{"type": "text", "text": QUESTION}]}]}
    r = httpx.post(server + "/v1/chat/completions", json=body, headers={"Authorization": "Bearer sk-test"},
                   timeout=30)
    assert r.status_code == 200
    assert "Nile" in r.json()["choices"][0]["message"]["content"]


def test_errors_in_openai_shape(server, client):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="webglm", messages=[{"role": "system", "content": "only this"}])
    assert "user" in err.value.body["message"]
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server + "/v1", api_key="sk-wrong", max_retries=0).models.list()
    r = httpx.post(server + "/v1/chat/completions", content=b"{", headers={"Authorization": "Bearer sk-test"})
    assert r.status_code == 400 and json.loads(r.text)["error"]["type"] == "invalid_request_error"


def test_source_list_can_be_turned_off(tmp_path):
    glm = corpus_pipeline(tmp_path / "c", **{"serve.sources_in_text": False})
    with running(create_app(glm, keys=()), glm.config.serve) as url:
        c = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=30)
        resp = c.chat.completions.create(model="webglm", messages=[{"role": "user", "content": QUESTION}])
    assert "Sources:" not in resp.choices[0].message.content and "[1]" in resp.choices[0].message.content
