"""Hostile clients against `webglm serve`: oversized, malformed and slow requests, abandoned
streams. A real uvicorn server on loopback with the server's own limits, driven over HTTP."""

import json
import socket
import threading
import time

import httpx
import pytest

pytest.importorskip("sse_starlette")

from webglm.serve import create_app  # noqa: E402
from webglm.serve.testing import SlowBackend, corpus_pipeline, running  # noqa: E402

Q = "Which river flows into the Mediterranean?"


@pytest.fixture
def server(tmp_path):
    glm = corpus_pipeline(tmp_path / "c", **{"serve.header_timeout": 0.5, "serve.body_timeout": 0.5})
    with running(create_app(glm, keys=()), glm.config.serve) as url:
        yield url


def test_body_over_the_cap_gets_413_before_it_is_read(server):
    big = b'{"question": "a", "pad": "' + b"x" * 200_000 + b'"}'
    r = httpx.post(f"{server}/v1/ask", content=big)
    assert r.status_code == 413 and "max_body_bytes" in r.json()["error"]

    def chunks():  # no Content-Length: the cap is counted while reading
        yield b'{"question": "a", "pad": "'
        for _ in range(40):
            yield b"x" * 10_000
        yield b'"}'

    r = httpx.post(f"{server}/v1/ask", content=chunks())
    assert r.status_code == 413
    assert httpx.post(f"{server}/v1/ask", json={"question": Q}, timeout=30).status_code == 200


@pytest.mark.parametrize("body", [
    b'{"question": "\\ud800 which river?"}',  # a lone surrogate: valid JSON, not valid text
    b"[" * 30_000 + b"]" * 30_000,  # nested deeper than the parser's recursion limit
    b'{"question": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
])
def test_unparseable_bodies_get_400_not_500(server, body):
    r = httpx.post(f"{server}/v1/ask", content=body, timeout=30)
    assert r.status_code == 400, r.text
    assert r.json()["stage"] == "input"


def test_invalid_question_on_the_stream_gets_400(server):
    r = httpx.post(f"{server}/v1/ask/stream", json={"question": "x" * 2001})
    assert r.status_code == 400 and "2000" in r.json()["error"]
    r = httpx.post(f"{server}/v1/ask/stream", content=b'{"question": "\\udfff"}')
    assert r.status_code == 400


def _raw(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    sock.settimeout(seconds)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
        return True, data
    except (TimeoutError, socket.timeout):
        return False, data
    except ConnectionResetError:
        return True, data


def test_slow_headers_and_slow_bodies_are_cut_off(server):
    slow_headers = _raw(server)
    slow_headers.sendall(b"POST /v1/ask HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
    slow_body = _raw(server)
    slow_body.sendall(b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100\r\n\r\n{\"question\"")  # 90 bytes never come
    closed, data = _closed_within(slow_headers, 5)
    assert closed and b"408" in data
    closed, data = _closed_within(slow_body, 5)
    assert closed and b" 408 " in data.split(b"\r\n")[0]
    assert httpx.post(f"{server}/v1/ask", json={"question": Q}, timeout=30).status_code == 200


def test_errors_carry_no_paths_or_tracebacks(tmp_path):
    class Broken(SlowBackend):
        def stream(self, prompt, params):
            raise RuntimeError("failed at /srv/secret/models/x.gguf line 3")

    glm = corpus_pipeline(tmp_path / "c", backend=Broken())
    with running(create_app(glm, keys=()), glm.config.serve) as url:
        r = httpx.post(f"{url}/v1/ask", json={"question": Q}, timeout=30)
        assert r.status_code == 500
        assert "/srv/secret" not in r.text and "Traceback" not in r.text and "RuntimeError" not in r.text
        with httpx.stream("POST", f"{url}/v1/ask/stream", json={"question": Q}, timeout=30) as s:
            text = "".join(s.iter_text())
        assert "event: error" in text and "/srv/secret" not in text


def _stream_until_tokens(url: str, n: int) -> None:
    """Read a stream until ``n`` token events arrived, then drop the connection."""
    seen = 0
    with httpx.stream("POST", f"{url}/v1/ask/stream", json={"question": Q}, timeout=30) as r:
        for line in r.iter_lines():
            seen += line.startswith("event: token")
            if seen >= n:
                return


def test_a_dropped_stream_stops_generating(tmp_path):
    backend = SlowBackend(delay=0.02, words=400)  # 8 s of generation if nobody stops it
    glm = corpus_pipeline(tmp_path / "c", backend=backend)
    with running(create_app(glm, keys=()), glm.config.serve) as url:
        _stream_until_tokens(url, 3)
        deadline = time.monotonic() + 5
        while backend.running and time.monotonic() < deadline:
            time.sleep(0.02)
        assert backend.running == 0, "the abandoned generation is still running"
        assert backend.produced < 100
        health = httpx.get(f"{url}/health").json()["queue"]
        assert health["generating"] == 0 and health["pending"] == 0 and health["cancelled"] == 1


def test_a_dropped_plain_request_stops_generating(tmp_path):
    backend = SlowBackend(delay=0.02, words=400)
    glm = corpus_pipeline(tmp_path / "c", backend=backend)
    with running(create_app(glm, keys=()), glm.config.serve) as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/v1/ask", json={"question": Q}, timeout=0.5)
        deadline = time.monotonic() + 5
        while backend.running and time.monotonic() < deadline:
            time.sleep(0.02)
        assert backend.running == 0 and backend.produced < 150


def test_deadline_gives_504_and_frees_the_generator(tmp_path):
    backend = SlowBackend(delay=0.02, words=400)
    glm = corpus_pipeline(tmp_path / "c", backend=backend)
    with running(create_app(glm, keys=()), glm.config.serve) as url:
        r = httpx.post(f"{url}/v1/ask", json={"question": Q, "timeout": 0.3}, timeout=30)
        assert r.status_code == 504 and "deadline" in r.json()["error"]
        assert httpx.post(f"{url}/v1/ask", json={"question": Q, "timeout": "soon"}).status_code == 400
        time.sleep(0.2)
        assert backend.running == 0


def test_full_queue_gets_503_with_retry_after(tmp_path):
    backend = SlowBackend(delay=0.02, words=150)
    glm = corpus_pipeline(tmp_path / "c", backend=backend, **{"serve.max_pending": 1, "serve.generation_slots": 1})
    with running(create_app(glm, keys=()), glm.config.serve) as url:
        first = threading.Thread(target=lambda: httpx.post(f"{url}/v1/ask", json={"question": Q}, timeout=30))
        first.start()
        deadline = time.monotonic() + 5
        while not backend.running and time.monotonic() < deadline:
            time.sleep(0.01)
        r = httpx.post(f"{url}/v1/ask", json={"question": Q}, timeout=30)
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1
        r = httpx.post(f"{url}/v1/ask/stream", json={"question": Q}, timeout=30)
        assert r.status_code == 503
        first.join()
        assert httpx.get(f"{url}/health").json()["queue"]["rejected"] == 2


def test_connection_cap(tmp_path):
    backend = SlowBackend(delay=0.02, words=200)
    glm = corpus_pipeline(tmp_path / "c", backend=backend, **{"serve.max_connections": 2})
    with running(create_app(glm, keys=()), glm.config.serve) as url:
        held = [threading.Thread(target=lambda: httpx.post(f"{url}/v1/ask", json={"question": Q}, timeout=60))
                for _ in range(2)]
        for t in held:
            t.start()
        deadline = time.monotonic() + 20
        while backend.entered < 2 and time.monotonic() < deadline:  # both requests are in progress
            time.sleep(0.01)
        assert backend.entered == 2 and backend.produced < 200
        assert httpx.post(f"{url}/v1/ask", json={"question": Q}, timeout=30).status_code == 503
        for t in held:
            t.join()


def test_stream_events_are_json(server):
    with httpx.stream("POST", f"{server}/v1/ask/stream", json={"question": Q}, timeout=30) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        data = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    assert data[-1]["answer"]["citations"] == [1]
