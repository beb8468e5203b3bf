"""A loopback HTTP server that behaves like vLLM's OpenAI-compatible API server.

What it copies from vLLM (``vllm serve MODEL``): ``GET /v1/models`` lists the served
model; ``POST /v1/chat/completions`` and ``/v1/completions`` accept many concurrent
requests, honour ``n`` (one choice per sample) and ``stream`` (server-sent
``chat.completion.chunk`` events ending in ``data: [DONE]``); an unknown model name is a
404 with vLLM's error body. What a loaded deployment adds (a proxy or vLLM's own
overload answer): 429 or 503 with a ``Retry-After`` header for the requests named in
``overload``. The server counts requests in flight and keeps the peak, so a test can
check a client's concurrency limit from the server's side.

Replies quote the first sentence of reference [1] and cite it, as a good model would, so
the pipeline's citation check accepts them.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "Qwen/Qwen2.5-7B-Instruct"
_REF1 = re.compile(r"^\[1\][^:\n]*:\s*(.+)$", re.MULTILINE)


class VLLMLikeServer(ThreadingHTTPServer):
    """``overload``: request numbers (1-based, counting generation requests) answered with
    ``overload_status`` and ``Retry-After: retry_after`` instead of a completion."""

    daemon_threads = True
    request_queue_size = 128  # vLLM accepts hundreds of connections; so must the test server

    def __init__(self, *, delay: float = 0.2, overload: set[int] = frozenset(), overload_status: int = 429,
                 retry_after: str = "1", models: tuple[str, ...] = (MODEL,)):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay, self.overload, self.models = delay, set(overload), models
        self.overload_status, self.retry_after = overload_status, retry_after
        self.lock = threading.Lock()
        self.in_flight = self.peak = self.requests = 0
        self.statuses: dict[int, int] = {}
        self.bodies: list[dict] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/v1"

    @contextmanager
    def counted(self) -> Iterator[int]:
        """Count one generation request in flight; yields its 1-based number."""
        with self.lock:
            self.requests += 1
            number = self.requests
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            yield number
        finally:
            with self.lock:
                self.in_flight -= 1

    def note(self, status: int) -> None:
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1

    @contextmanager
    def running(self) -> Iterator["VLLMLikeServer"]:
        thread = threading.Thread(target=self.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.shutdown()
            self.server_close()
            thread.join(5)


def reply_for(body: dict) -> str:
    """What the 'model' answers: reference [1]'s first sentence, cited."""
    if "messages" in body:
        prompt = body["messages"][-1]["content"]
    else:
        prompt = body["prompt"]
    match = None
    for match in _REF1.finditer(prompt):
        pass  # the last [1] line belongs to the real question, not the worked example
    if match is None:
        return "The references do not say."
    sentence = re.split(r"(?<=[.!?])\s", match.group(1).strip(), maxsplit=1)[0].rstrip(".!?")
    return f"{sentence} [1]."


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: VLLMLikeServer

    def log_message(self, *args):  # keep test output clean
        pass

    def _json(self, status: int, data: dict, headers: dict | None = None, *, count: bool = True) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if count:  # generation requests only; before the body, which the client may act on at once
            self.server.note(status)
        self.wfile.write(raw)

    def do_GET(self):
        if self.path.rstrip("/") != "/v1/models":
            return self._json(404, {"object": "error", "message": "Not Found", "code": 404}, count=False)
        data = [{"id": m, "object": "model", "owned_by": "vllm", "max_model_len": 32768} for m in self.server.models]
        self._json(200, {"object": "list", "data": data}, count=False)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        endpoint = self.path.rstrip("/")
        if endpoint not in ("/v1/chat/completions", "/v1/completions"):
            return self._json(404, {"object": "error", "message": "Not Found", "code": 404})
        with self.server.counted() as number:
            with self.server.lock:
                self.server.bodies.append(body)
            if number in self.server.overload:
                return self._json(self.server.overload_status,
                                  {"object": "error", "message": "server overloaded, retry later",
                                   "code": self.server.overload_status},
                                  {"Retry-After": self.server.retry_after})
            if body.get("model") not in self.server.models:
                return self._json(404, {"object": "error", "type": "NotFoundError", "code": 404,
                                        "message": f"The model `{body.get('model')}` does not exist."})
            time.sleep(self.server.delay)  # the GPU at work
            chat = endpoint.endswith("chat/completions")
            if body.get("stream"):
                return self._stream(body, chat)
            self._complete(body, chat)

    def _complete(self, body: dict, chat: bool) -> None:
        text = reply_for(body)
        n = int(body.get("n") or 1)
        choices = [{"index": i, "finish_reason": "stop", "logprobs": None,
                    **({"message": {"role": "assistant", "content": text}} if chat else {"text": text})}
                   for i in range(n)]
        usage = {"prompt_tokens": 100, "completion_tokens": 12 * n, "total_tokens": 100 + 12 * n}
        kind = "chat.completion" if chat else "text_completion"
        self._json(200, {"id": "cmpl-1", "object": kind, "model": body["model"], "choices": choices,
                         "usage": usage})

    def _stream(self, body: dict, chat: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.server.note(200)
        for word in reply_for(body).split(" "):
            choice = {"index": 0, "delta": {"content": word + " "}} if chat else {"index": 0, "text": word + " "}
            self._chunk(f"data: {json.dumps({'object': 'chat.completion.chunk', 'choices': [choice]})}\n\n")
        self._chunk("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, text: str) -> None:
        raw = text.encode()
        self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
        self.wfile.flush()
