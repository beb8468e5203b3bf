"""The OpenAI-compatible backend against a loopback server that behaves like vLLM:
concurrency limits seen from the server's side, n, streaming, 429/503 with Retry-After,
the model list, per-request timeouts, and `webglm eval --concurrency` keeping it busy."""

import asyncio
import email.utils
import json
import threading
import time

import pytest

from webglm.config import CitationConfig, GenerateConfig, WebGLMConfig
from webglm.errors import GenerationError
from webglm.eval.cli_support import eval_command
from webglm.generator import make_backend
from webglm.generator.backends import SamplingParams
from webglm.generator.prompts import Prompt
from webglm.retry import retry_after
from webglm.testing import HashEncoder

from vllm_like import MODEL, VLLMLikeServer

PROMPT = Prompt("chat", messages=(("user", "References:\n[1] T: Paris is in France. More.\n\nQuestion: q"),))


def backend_for(server, **kw):
    return make_backend(GenerateConfig(backend="openai", base_url=server.url, timeout=10.0, **kw))


def test_model_list_names_the_model_when_none_is_configured():
    with VLLMLikeServer(delay=0.0).running() as server:
        backend = backend_for(server)
        assert backend.models() == [MODEL]
        out = backend.generate(PROMPT, 1, SamplingParams())
        assert out[0].text == "Paris is in France [1]."
        assert server.bodies[-1]["model"] == MODEL and backend.model_id == f"openai:{MODEL}"
        with pytest.raises(GenerationError, match="does not exist"):
            backend_for(server, model="no-such-model").generate(PROMPT, 1, SamplingParams())


def test_n_and_streaming_like_vllm():
    with VLLMLikeServer(delay=0.0).running() as server:
        backend = backend_for(server)
        assert len(backend.generate(PROMPT, 3, SamplingParams(temperature=0.7))) == 3
        assert server.bodies[-1]["n"] == 3 and server.requests == 1
        pieces = list(backend.stream(PROMPT, SamplingParams()))
        assert len(pieces) > 2 and "".join(pieces).strip() == "Paris is in France [1]."


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_is_honoured(status):
    with VLLMLikeServer(delay=0.0, overload={1}, overload_status=status, retry_after="1").running() as server:
        backend = backend_for(server, model=MODEL)
        backend.backoff = 0.0  # only the header may make it wait
        t0 = time.monotonic()
        assert backend.generate(PROMPT, 1, SamplingParams())[0].text
        assert time.monotonic() - t0 >= 0.95
        assert server.requests == 2 and server.statuses == {status: 1, 200: 1}


def test_retry_after_http_date_is_honoured():
    assert retry_after("") is None and retry_after("soon") is None and retry_after("2.5") == 2.5
    when = email.utils.formatdate(time.time() + 3, usegmt=True)
    assert 1.5 <= retry_after(when) <= 3.01
    assert retry_after(email.utils.formatdate(time.time() - 60, usegmt=True)) == 0.0


def test_streaming_retries_after_503():
    with VLLMLikeServer(delay=0.0, overload={1}, overload_status=503, retry_after="0").running() as server:
        pieces = list(backend_for(server, model=MODEL).stream(PROMPT, SamplingParams()))
        assert "".join(pieces).strip() == "Paris is in France [1]." and server.statuses == {503: 1, 200: 1}


def test_max_concurrency_caps_requests_in_flight():
    with VLLMLikeServer(delay=0.3).running() as server:
        backend = backend_for(server, model=MODEL, max_concurrency=3)
        threads = [threading.Thread(target=backend.generate, args=(PROMPT, 1, SamplingParams()))
                   for _ in range(9)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert server.requests == 9 and server.peak == 3


def test_per_request_timeout_frees_the_slot():
    with VLLMLikeServer(delay=3.0).running() as server:
        backend = backend_for(server, model=MODEL, max_concurrency=1)
        backend.gen = GenerateConfig(backend="openai", base_url=server.url, timeout=0.5, max_concurrency=1)
        backend.close()  # the client is rebuilt with the shorter timeout
        t0 = time.monotonic()
        with pytest.raises(GenerationError, match="timed out after 0.5 s"):
            backend.generate(PROMPT, 1, SamplingParams())
        assert time.monotonic() - t0 < 2.5
        assert backend._slots.acquire(timeout=0.1)  # the slot came back


def _qa_dataset(path, n=32):
    rows = [{"id": f"q{i:02d}", "question": f"Where is city {i}?", "answer": f"City {i} is in land {i} [1].",
             "references": [f"City {i} is in land {i}. It has {i} bridges.", f"Other text {i}."]}
            for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _eval(tmp_path, server, concurrency, **gen):
    # the server's concurrency is under test: the lexical support check keeps the encoder's CPU
    # time (which depends on the machine's load) out of how many requests are in flight
    cfg = WebGLMConfig(generate=GenerateConfig(backend="openai", base_url=server.url, **gen),
                       citation=CitationConfig(dense=False))
    report = eval_command(_qa_dataset(tmp_path / "qa.jsonl"), out_dir=tmp_path / "run", config=cfg,
                          concurrency=concurrency, progress=False, resamples=50)
    rows = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    return report, rows


def test_eval_32_questions_concurrency_8_keeps_the_server_busy_with_0_errors(tmp_path):
    # every 5th request is refused with 429 + Retry-After, as an overloaded deployment would
    overload = {5, 10, 15, 20}
    with VLLMLikeServer(delay=0.4, overload=overload, retry_after="1").running() as server:
        report, rows = _eval(tmp_path, server, 8)
    assert report.n_examples == 32 and report.n_failed == 0
    assert len(rows) == 32 and all(r["status"] == "ok" for r in rows)
    assert all(r["answer"].endswith("[1].") and r["citations"] == [1] for r in rows)
    assert server.peak == 8  # at most 8 in flight, and all 8 were used
    assert server.requests == 36 and server.statuses == {429: 4, 200: 32}


def test_generate_max_concurrency_limits_a_wider_eval(tmp_path):
    with VLLMLikeServer(delay=0.3).running() as server:
        report, _rows = _eval(tmp_path, server, 16, max_concurrency=4)
    assert report.n_failed == 0 and server.requests == 32 and server.peak == 4


def test_closing_the_pipeline_closes_the_openai_client(tmp_path):
    from webglm import WebGLM

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "paris.md").write_text("Paris is the capital of France and its largest city.\n")
    cfg = WebGLMConfig(generate=GenerateConfig(backend="openai", base_url="http://unused.invalid/v1"),
                       citation=CitationConfig(dense=False))
    with VLLMLikeServer(delay=0.0).running() as server:
        backend = backend_for(server)

        async def run():
            async with WebGLM(cfg, corpus=str(tmp_path / "docs"), encoder=HashEncoder(), backend=backend) as glm:
                answer = await glm.aanswer("What is the capital of France?")
                client = backend._client
                assert client is not None and not client.is_closed and server.requests >= 1
            return answer, client

        answer, client = asyncio.run(run())
    assert answer.text and client.is_closed and backend._client is None
