"""Local HTTP servers for tests and demos (loopback only, standard library only).

* :class:`FakeSearchAPI` speaks the response shapes of SearXNG (``/searxng/search``),
  Brave (``/brave/res/v1/web/search``), SerpAPI (``/serpapi/search.json``) and
  DuckDuckGo HTML (``/ddg/html/``), and can be switched per engine into failure
  modes (429 with Retry-After, 500, malformed JSON, error payloads, slow, empty).
* :class:`PageServer` serves registered pages plus hostile ones generated on the
  fly: slow, connection reset, endless or huge bodies, gzip bombs, redirects,
  wrong content types, binary bodies and error statuses.
* :class:`LocalServer` counts every accepted connection, so a canary server can
  prove that nothing reached it.

Example (the acceptance setup)::

    with PageServer() as pages, FakeSearchAPI() as api:
        pages.add("/a.html", "<html>...</html>")
        api.results = [{"url": pages.url + "/a.html", "title": "A", "snippet": "..."}]
        # SEARXNG_URL=api.url + "/searxng", --allow-host 127.0.0.1:<pages.port>
"""

from __future__ import annotations

import html
import json
import socket
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, quote, urlsplit

Route = Callable[["_Handler", dict[str, list[str]]], None]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: "LocalServer", family: int = socket.AF_INET):
        self.address_family = family
        self.owner = owner
        super().__init__(address, _Handler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        with self.owner.lock:
            self.owner.connections += 1
        return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection; bodies may end at close

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _dispatch(self) -> None:
        owner: LocalServer = self.server.owner  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if self.command == "POST":
            length = int(self.headers.get("content-length") or 0)
            query.update(parse_qs(self.rfile.read(length).decode("utf-8", "replace")))
        with owner.lock:
            owner.requests.append((self.command, parts.path, dict(self.headers)))
            owner.in_flight += 1
            owner.peak_in_flight = max(owner.peak_in_flight, owner.in_flight)
        start = time.monotonic()
        try:
            owner.handle(self, parts.path, query)
        finally:
            with owner.lock:
                owner.in_flight -= 1
                owner.spans.append((start, time.monotonic()))

    do_GET = _dispatch
    do_POST = _dispatch

    def send(
        self, status: int, body: bytes | str, ctype: str = "text/html; charset=utf-8", **headers: str
    ) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 (or ::1) that counts connections."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self.port = port
        self.connections = 0
        self.in_flight = 0
        self.peak_in_flight = 0  # most requests handled at once: what a client's limits allowed
        self.spans: list[tuple[float, float]] = []  # (start, end) of every handled request, monotonic
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._server: _Server | None = None

    def most_at_once(self, slack: float = 0.05) -> int:
        """Most requests handled at once, not counting overlaps shorter than ``slack`` seconds.

        ``peak_in_flight`` also counts the instant between a response's last byte and its
        handler returning, in which the client may already have sent its next request.
        """
        with self.lock:
            edges = [(s, 1) for s, _ in self.spans] + [(e - slack, -1) for _, e in self.spans]
        most = now = 0
        for _, step in sorted(edges):  # at equal times an end (-1) sorts before a start
            now += step
            most = max(most, now)
        return most

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def handle(self, handler: _Handler, path: str, query: dict[str, list[str]]) -> None:
        handler.send(200, "<html><body><p>canary</p></body></html>")

    def start(self) -> "LocalServer":
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._server = _Server((self.host, self.port), self, family)
        self.port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class PageServer(LocalServer):
    """Serves registered pages and hostile endpoints (see module docs)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port)
        self.pages: dict[str, tuple[int, str, bytes, dict[str, str]]] = {}

    def add(
        self,
        path: str,
        body: str | bytes,
        *,
        status: int = 200,
        ctype: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> str:
        """Register a page and return its full URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.pages[path] = (status, ctype, data, headers or {})
        return self.url + path

    def handle(self, handler: _Handler, path: str, query: dict[str, list[str]]) -> None:
        if path in self.pages:
            status, ctype, body, headers = self.pages[path]
            return handler.send(status, body, ctype, **headers)
        head, _, arg = path.strip("/").partition("/")
        route = getattr(self, f"_route_{head.replace('-', '_')}", None)
        if route is None:
            return handler.send(404, "<html><body>not found</body></html>")
        route(handler, arg, query)

    def _route_status(self, handler: _Handler, arg: str, query: dict) -> None:
        handler.send(int(arg or 500), f"<html><body><p>status {arg}</p></body></html>")

    def _route_slow(self, handler: _Handler, arg: str, query: dict) -> None:
        end = time.monotonic() + float(arg or 30)
        while time.monotonic() < end and not self.stopping.is_set():
            time.sleep(0.05)
        handler.send(200, "<html><body><p>" + "Slow page text arrived too late. " * 10 + "</p></body></html>")

    def _route_reset(self, handler: _Handler, arg: str, query: dict) -> None:
        # SO_LINGER with a zero timeout turns close() into a TCP reset.
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()

    def _route_redirect(self, handler: _Handler, arg: str, query: dict) -> None:
        handler.send(int(query.get("code", ["302"])[0]), "", Location=query.get("to", ["/"])[0])

    def _route_loop(self, handler: _Handler, arg: str, query: dict) -> None:
        handler.send(302, "", Location=f"/loop/{int(arg or 0) + 1}")

    def _route_type(self, handler: _Handler, arg: str, query: dict) -> None:
        handler.send(200, b"%PDF-1.7 fake", (arg or "application/pdf").replace("_", "/"))

    def _route_binary(self, handler: _Handler, arg: str, query: dict) -> None:
        handler.send(200, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64, "text/html")

    def _stream(self, handler: _Handler, chunks: Any, headers: dict[str, str]) -> None:
        handler.send_response(200)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        sent = 0
        try:
            for chunk in chunks:
                if self.stopping.is_set():
                    break
                handler.wfile.write(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass  # the client hung up: exactly what a capped reader should do
        with self.lock:
            self.streamed = getattr(self, "streamed", 0) + sent

    def _route_huge(self, handler: _Handler, arg: str, query: dict) -> None:
        total = int(arg or 2 * 1024**3)
        block = b"<p>" + b"x" * 65530 + b"</p>"
        headers = {"Content-Type": "text/html"}
        if query.get("declare"):
            headers["Content-Length"] = str(total)
        self._stream(handler, (block for _ in range(total // len(block))), headers)

    def _route_bomb(self, handler: _Handler, arg: str, query: dict) -> None:
        total = int(arg or 10 * 1024**3)  # decompressed size; sent in a few megabytes
        encoding = query.get("encoding", ["gzip"])[0]

        def chunks():
            comp = zlib.compressobj(9, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
            yield comp.compress(b"<html><body><p>")
            zeros = b"\0" * (1 << 20)
            for _ in range(total >> 20):
                out = comp.compress(zeros)
                if out:
                    yield out
            yield comp.flush()

        self._stream(handler, chunks(), {"Content-Type": "text/html", "Content-Encoding": encoding})


class FakeSearchAPI(LocalServer):
    """Fake SearXNG / Brave / SerpAPI / DuckDuckGo endpoints with switchable failures.

    ``results`` are dicts with url, title, snippet; ``modes[engine]`` is one of
    ok, empty, 429, 500, malformed, error, auth, slow.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port)
        self.results: list[dict[str, str]] = []
        self.modes: dict[str, str] = {}
        self.retry_after = "7"
        self.slow_seconds = 10.0

    def handle(self, handler: _Handler, path: str, query: dict[str, list[str]]) -> None:
        engine = {
            "/searxng/search": "searxng",
            "/brave/res/v1/web/search": "brave",
            "/serpapi/search.json": "serpapi",
            "/ddg/html/": "ddg",
        }.get(path)
        if engine is None:
            return handler.send(404, "not found", "text/plain")
        mode = self.modes.get(engine, "ok")
        if mode == "slow":
            end = time.monotonic() + self.slow_seconds
            while time.monotonic() < end and not self.stopping.is_set():
                time.sleep(0.05)
        if mode == "429":
            return handler.send(
                429,
                self._error(engine, "RATE_LIMITED", 429),
                "application/json",
                Retry_After=self.retry_after,
            )
        if mode in ("500", "auth"):
            code = 500 if mode == "500" else (403 if engine == "searxng" else 401)
            return handler.send(code, self._error(engine, "ERROR", code), "application/json")
        if mode == "malformed":
            return handler.send(200, '{"results": [{"url": "http://x', "application/json")
        rows = [] if mode == "empty" else self.results
        getattr(self, f"_{engine}")(handler, rows, query, mode)

    def _error(self, engine: str, code: str, status: int) -> str:
        if engine == "brave":
            return json.dumps(
                {
                    "type": "ErrorResponse",
                    "error": {"id": "x", "status": status, "code": code, "detail": "Request failed."},
                }
            )
        if engine == "serpapi":
            return json.dumps(
                {"error": "Invalid API key. Your API key should be here: https://serpapi.com/manage-api-key"}
            )
        return json.dumps({"error": code})

    def _searxng(self, handler: _Handler, rows: list, query: dict, mode: str) -> None:
        results = [
            {
                "url": r["url"],
                "title": r["title"],
                "content": r.get("snippet", ""),
                "engine": "fake",
                "score": 1.0,
            }
            for r in rows
        ]
        handler.send(
            200,
            json.dumps(
                {
                    "query": query.get("q", [""])[0],
                    "number_of_results": len(results),
                    "results": results,
                    "answers": [],
                    "suggestions": [],
                }
            ),
            "application/json",
        )

    def _brave(self, handler: _Handler, rows: list, query: dict, mode: str) -> None:
        results = [
            {
                "title": f"<strong>{html.escape(r['title'])}</strong>",
                "url": r["url"],
                "description": html.escape(r.get("snippet", "")),
                "type": "search_result",
            }
            for r in rows
        ]
        handler.send(
            200,
            json.dumps(
                {
                    "type": "search",
                    "query": {"original": query.get("q", [""])[0]},
                    "web": {"type": "search", "results": results},
                }
            ),
            "application/json",
        )

    def _serpapi(self, handler: _Handler, rows: list, query: dict, mode: str) -> None:
        if mode == "error":
            return handler.send(200, self._error("serpapi", "", 200), "application/json")
        if not rows:
            return handler.send(
                200,
                json.dumps(
                    {
                        "search_metadata": {"status": "Success"},
                        "error": "Google hasn't returned any results for this query.",
                    }
                ),
                "application/json",
            )
        results = [
            {"position": i + 1, "title": r["title"], "link": r["url"], "snippet": r.get("snippet", "")}
            for i, r in enumerate(rows)
        ]
        handler.send(
            200,
            json.dumps({"search_metadata": {"status": "Success"}, "organic_results": results}),
            "application/json",
        )

    def _ddg(self, handler: _Handler, rows: list, query: dict, mode: str) -> None:
        if mode == "error":
            return handler.send(202, '<html><body><div class="anomaly-modal">bots</div></body></html>')
        items = "".join(
            '<div class="result results_links web-result"><h2 class="result__title">'
            f'<a class="result__a" href="//duckduckgo.com/l/?uddg={quote(r["url"], safe="")}&amp;rut=x">'
            f"{html.escape(r['title'])}</a></h2>"
            f'<a class="result__snippet" href="#">{html.escape(r.get("snippet", ""))}</a></div>'
            for r in rows
        )
        ad = '<div class="result result--ad"><a class="result__a" href="https://ads.example/">Ad</a></div>'
        handler.send(
            200,
            f"<html><body><div id='links'>{ad}{items or '<div class=no-results>No results.</div>'}"
            "</div></body></html>",
        )


def minimal_pdf(lines: list[str], title: str = "") -> bytes:
    """A small valid one-page PDF showing ``lines`` (ASCII) in Helvetica, for tests."""

    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    content = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({esc(line)}) Tj T*" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >>"
        " /Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        f"<< /Title ({esc(title)}) >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    trailer = f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    return out + trailer.encode()


def serve_directory(
    directory: str, *, pages_port: int = 0, api_port: int = 0
) -> tuple[PageServer, FakeSearchAPI]:
    """Serve the .html/.htm/.txt files of ``directory`` and a fake search API listing them all."""
    from pathlib import Path

    pages, api = PageServer(port=pages_port), FakeSearchAPI(port=api_port)
    pages.start()
    api.start()
    for path in sorted(Path(directory).rglob("*")):
        if path.suffix.lower() in (".html", ".htm", ".txt") and path.is_file():
            rel = "/" + quote(path.relative_to(directory).as_posix())
            ctype = "text/plain; charset=utf-8" if path.suffix.lower() == ".txt" else "text/html"
            url = pages.add(rel, path.read_bytes(), ctype=ctype)
            api.results.append({"url": url, "title": path.stem.replace("-", " "), "snippet": ""})
    return pages, api


def main(argv: list[str] | None = None) -> None:
    """``python -m webglm.retriever.testing DIR``: an offline web for trying the pipeline."""
    import argparse

    parser = argparse.ArgumentParser(
        description="Serve DIR as a local web with a fake SearXNG in front of it."
    )
    parser.add_argument("directory")
    parser.add_argument("--pages-port", type=int, default=0)
    parser.add_argument("--api-port", type=int, default=0)
    args = parser.parse_args(argv)
    pages, api = serve_directory(args.directory, pages_port=args.pages_port, api_port=args.api_port)
    print(f"{len(api.results)} documents at {pages.url}")
    print(f"export SEARXNG_URL={api.url}/searxng")
    print(f'webglm ask "your question" --engine searxng --allow-host 127.0.0.1:{pages.port}')
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pages.stop()
        api.stop()


if __name__ == "__main__":
    main()
