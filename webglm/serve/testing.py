"""Running the server in-process on loopback, and a slow backend, for tests and benchmarks."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Iterator

from ..generator.backends import Completion, EchoBackend


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running(app, cfg, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` with the server limits of ``cfg`` (a ServeConfig) in a thread; yields
    the base URL, then stops the server and raises if it does not stop."""
    import uvicorn

    from .app import uvicorn_config

    config = uvicorn_config(app, cfg, host, free_port())
    config.log_level = "warning"
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.02)
    if not server.started:
        raise RuntimeError("the test server did not start")
    try:
        yield f"http://{host}:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
    if thread.is_alive():
        raise RuntimeError("the test server did not stop within 60 s")


class SlowBackend(EchoBackend):
    """The echo backend, one word every ``delay`` seconds, counting the words it produced
    (so a test can see whether an abandoned generation stopped)."""

    def __init__(self, delay: float = 0.05, words: int = 200):
        super().__init__()
        self.delay, self.words = delay, words
        self.produced = 0
        self.entered = 0  # streams asked for, including those waiting for the model
        self.running = 0
        self._lock = threading.Lock()

    def _pieces(self, prompt) -> Iterator[str]:
        base = self._answer(prompt).split() or ["word"]
        for i in range(self.words):
            time.sleep(self.delay)
            self.produced += 1
            yield base[i % len(base)] + " "

    def stream(self, prompt, params) -> Iterator[str]:
        self.entered += 1
        with self._lock:  # one model context, like llama.cpp
            self.running += 1
            try:
                yield from self._pieces(prompt)
            finally:
                self.running -= 1

    def generate(self, prompt, n, params) -> list[Completion]:
        return [Completion("".join(self.stream(prompt, params)), 10, self.words, "length")] * n


RIVERS = ("# Rivers\n\nThe Nile is the longest river in Africa and flows north into the Mediterranean Sea.\n\n"
          "The Amazon carries more water than any other river in the world.\n")


def corpus_pipeline(folder, backend=None, **overrides):
    """A loaded pipeline over a one-file corpus written to ``folder``, with the hash encoder
    and the echo generator (or ``backend``); ``overrides`` are dotted settings."""
    from pathlib import Path

    from ..config import load_config
    from ..pipeline import WebGLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rivers.md").write_text(RIVERS, encoding="utf-8")
    settings = {"generate.backend": "echo", "rank.encoder": "hash", "cache_dir": str(folder.parent / "cache")}
    settings.update(overrides)
    glm = WebGLM(load_config(overrides=settings, environ={}), corpus=folder, backend=backend)
    return glm.load()


def delayed_page_server(delay: float):
    """A started :class:`~webglm.retriever.testing.PageServer` whose registered pages each
    take ``delay`` seconds to arrive; ``peak`` is the most requests it had in flight."""
    from ..retriever.testing import PageServer

    class DelayedPages(PageServer):
        def __init__(self) -> None:
            super().__init__()
            self.in_flight = 0
            self.peak = 0

        def handle(self, handler, path, query) -> None:
            with self.lock:
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
            try:
                end = time.monotonic() + delay
                while time.monotonic() < end and not self.stopping.is_set():
                    time.sleep(0.02)
                super().handle(handler, path, query)
            finally:
                with self.lock:
                    self.in_flight -= 1

    return DelayedPages().start()


def web_pipeline(pages, api, backend=None, **overrides):
    """A loaded web-mode pipeline searching the fake SearXNG ``api`` and fetching from ``pages``
    (allowed on loopback), with the hash encoder and the echo generator unless overridden."""
    from ..config import load_config
    from ..pipeline import WebGLM

    settings = {"search.engine": "searxng", "search.searxng_url": api.url + "/searxng",
                "fetch.allow_hosts": (f"127.0.0.1:{pages.port}",), "generate.backend": "echo",
                "rank.encoder": "hash"}
    settings.update(overrides)
    glm = WebGLM(load_config(overrides=settings, environ={}), backend=backend)
    return glm.load()
