"""API keys, rate limits, CORS and request logs of `webglm serve`."""

import logging
import threading

import httpx
import pytest

pytest.importorskip("sse_starlette")

from webglm.serve import create_app  # noqa: E402
from webglm.serve.access import TokenBucket, exposure_warning  # noqa: E402
from webglm.serve.testing import corpus_pipeline, running  # noqa: E402

Q = {"question": "Which river flows into the Mediterranean?"}


@pytest.fixture
def keyed(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBGLM_API_KEYS", "alpha-key-1, beta-key-2")
    glm = corpus_pipeline(tmp_path / "c", **{"serve.rate_limit": 10})
    with running(create_app(glm), glm.config.serve) as url:
        yield url


def test_keys_none_wrong_right(keyed):
    assert httpx.post(f"{keyed}/v1/ask", json=Q).status_code == 401
    r = httpx.post(f"{keyed}/v1/ask", json=Q, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert httpx.post(f"{keyed}/v1/ask", json=Q, headers={"Authorization": "Basic alpha-key-1"}).status_code == 401
    r = httpx.post(f"{keyed}/v1/ask", json=Q, headers={"Authorization": "Bearer alpha-key-1"}, timeout=30)
    assert r.status_code == 200 and r.json()["citations"]
    assert httpx.get(f"{keyed}/v1/models").status_code == 401
    assert httpx.post(f"{keyed}/mcp", json={}).status_code == 401
    assert httpx.get(f"{keyed}/health").status_code == 200  # liveness stays open, and says nothing secret
    assert "alpha" not in httpx.get(f"{keyed}/health").text


def test_requests_over_the_per_key_limit_get_429(keyed):
    alpha = {"Authorization": "Bearer alpha-key-1"}
    codes: list[int] = []

    def one() -> None:
        codes.append(httpx.post(f"{keyed}/v1/ask", json=Q, headers=alpha, timeout=30).status_code)

    threads = [threading.Thread(target=one) for _ in range(26)]  # 10 allowed, 16 over the limit
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200] * 10 + [429] * 16
    r = httpx.post(f"{keyed}/v1/ask", json=Q, headers=alpha)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    # Other keys have their own budget, and the server still answers.
    beta = {"Authorization": "Bearer beta-key-2"}
    assert httpx.post(f"{keyed}/v1/ask", json=Q, headers=beta, timeout=30).status_code == 200
    assert httpx.get(f"{keyed}/health").json()["status"] == "ok"


def test_token_bucket_refills():
    bucket = TokenBucket(60)  # one a second
    assert all(bucket.take("k", now=0.0) == 0.0 for _ in range(60))
    assert bucket.take("k", now=0.0) == pytest.approx(1.0)
    assert bucket.take("k", now=1.0) == 0.0


def test_cors_is_off_unless_configured(tmp_path):
    glm = corpus_pipeline(tmp_path / "c")
    with running(create_app(glm, keys=()), glm.config.serve) as url:
        r = httpx.post(f"{url}/v1/ask", json=Q, headers={"Origin": "https://evil.example"}, timeout=30)
        assert "access-control-allow-origin" not in r.headers
    glm = corpus_pipeline(tmp_path / "d", **{"serve.cors_origins": ("https://app.example",)})
    with running(create_app(glm, keys=()), glm.config.serve) as url:
        pre = httpx.options(f"{url}/v1/ask", headers={"Origin": "https://app.example",
                                                      "Access-Control-Request-Method": "POST"})
        assert pre.headers["access-control-allow-origin"] == "https://app.example"
        r = httpx.post(f"{url}/v1/ask", json=Q, headers={"Origin": "https://evil.example"}, timeout=30)
        assert "access-control-allow-origin" not in r.headers


def test_request_log_hides_the_question_unless_asked(tmp_path, caplog):
    secret = "Which river flows into the Mediterranean, asks patient 4711?"
    caplog.set_level(logging.INFO, logger="webglm.serve")
    glm = corpus_pipeline(tmp_path / "c")
    with running(create_app(glm, keys=("k-1",)), glm.config.serve) as url:
        r = httpx.post(f"{url}/v1/ask", json={"question": secret}, headers={"Authorization": "Bearer k-1"},
                       timeout=30)
        assert r.status_code == 200
    text = "\n".join(rec.getMessage() for rec in caplog.records if rec.name == "webglm.serve")
    assert "POST /v1/ask 200" in text and "sha256" in text
    assert "4711" not in text and "k-1" not in text
    caplog.clear()
    glm = corpus_pipeline(tmp_path / "d", **{"serve.log_questions": True})
    with running(create_app(glm, keys=()), glm.config.serve) as url:
        httpx.post(f"{url}/v1/ask", json={"question": secret}, timeout=30)
    assert "4711" in "\n".join(rec.getMessage() for rec in caplog.records)


def test_binding_beyond_loopback_without_keys_warns():
    assert exposure_warning("127.0.0.1", ()) is None
    assert exposure_warning("::1", ()) is None
    assert exposure_warning("0.0.0.0", ("k",)) is None
    assert "WEBGLM_API_KEYS" in exposure_warning("0.0.0.0", ())
