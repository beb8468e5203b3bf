"""Connection and request limits in front of the application.

* :func:`guarded_protocol`: uvicorn's h11 protocol with a header timeout. uvicorn closes
  idle keep-alive connections but waits forever for a request's headers, so ten slow
  clients ("slowloris") could each hold a connection as long as they liked.
* :class:`BodyLimit`: reads each request body before the application sees it, refusing
  bodies above the cap (413, before reading when ``Content-Length`` says so) and bodies
  that do not arrive within the body timeout (408). The application then parses a body
  that is complete and bounded.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

from ..compat import timeout as compat_timeout

Scope = dict[str, Any]
ASGIApp = Callable[..., Any]


def header_value(scope: Scope, name: bytes) -> str:
    """One request header as text ('' when absent)."""
    for key, value in scope.get("headers") or ():
        if key == name:
            return value.decode("latin-1")
    return ""


async def send_json(send, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
    """Send a whole JSON response through a raw ASGI ``send``."""
    data = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


def error_body(path: str, status: int, message: str, kind: str) -> dict:
    """An error in the shape the endpoint's clients expect: OpenAI's under the OpenAI
    routes (its client reads ``error.message``), webglm's ``{"error", "stage"}`` elsewhere."""
    if path.startswith(("/v1/chat/", "/v1/models")):
        return {"error": {"message": message, "type": kind, "code": status}}
    return {"error": message, "stage": "server"}


class BodyLimit:
    """ASGI middleware: complete, size-capped, time-boxed request bodies."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float):
        self.app, self.max_bytes, self.timeout = app, max_bytes, timeout

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        declared = header_value(scope, b"content-length")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await self._too_large(path, send)
        chunks: list[bytes] = []
        size = 0
        try:
            async with compat_timeout(self.timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_bytes:
                        return await self._too_large(path, send)
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except asyncio.TimeoutError:
            msg = f"the request body did not arrive within {self.timeout:g} s"
            return await send_json(send, 408, error_body(path, 408, msg, "timeout"), {"connection": "close"})
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # later messages: http.disconnect when the client leaves

        await self.app(scope, replay, send)

    async def _too_large(self, path: str, send) -> None:
        msg = (f"the request body is larger than {self.max_bytes} bytes; "
               "send a shorter request (the limit is serve.max_body_bytes)")
        await send_json(send, 413, error_body(path, 413, msg, "invalid_request_error"), {"connection": "close"})


def guarded_protocol(header_timeout: float):
    """uvicorn's h11 protocol class, closing connections whose request headers are not
    complete ``header_timeout`` seconds after the connection opened (or after the previous
    response on a kept-alive connection)."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm_header_timer()

        def _arm_header_timer(self) -> None:
            self._header_timer = self.loop.call_later(header_timeout, self._header_timeout_expired)

        def _header_timeout_expired(self) -> None:
            # IDLE: the client has not finished a request line and headers yet.
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.write(b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\n"
                                     b"content-length: 0\r\n\r\n")
                self.transport.close()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._header_timer.cancel()
            self._arm_header_timer()

        def connection_lost(self, exc) -> None:
            self._header_timer.cancel()
            super().connection_lost(exc)

    return GuardedH11Protocol
