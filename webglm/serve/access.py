"""Who may call the server, how often, and what the request log says.

* API keys: ``$WEBGLM_API_KEYS`` (comma-separated). When set, every ``/v1/`` and ``/mcp``
  request needs ``Authorization: Bearer <key>``; missing or wrong keys get 401. When unset,
  the server is meant for this machine only (it binds 127.0.0.1 by default and warns when
  bound elsewhere).
* Rate limits: a token bucket per key (per client address without keys), ``serve.rate_limit``
  requests per minute with that many in a burst; over it, 429 with ``Retry-After``.
* Request log: one line per request with method, path, status, time and a short key id,
  never the key, and the question only when ``serve.log_questions`` is on.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import os
import time

from .limits import error_body, header_value, send_json

log = logging.getLogger("webglm.serve")
PROTECTED = ("/v1/", "/mcp")


def load_keys(environ=None) -> tuple[str, ...]:
    """API keys from ``$WEBGLM_API_KEYS`` (comma-separated, blanks ignored)."""
    raw = (os.environ if environ is None else environ).get("WEBGLM_API_KEYS", "")
    return tuple(k.strip() for k in raw.split(",") if k.strip())


def key_id(key: str) -> str:
    """A short, non-reversible name for a key, for logs and rate-limit buckets."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:8]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, keys: tuple[str, ...]) -> str | None:
    """The warning for serving beyond this machine without API keys, or None."""
    if keys or is_loopback(host):
        return None
    return (f"serving on {host} without API keys: anyone who can reach this address can use it "
            "and spend its resources; set WEBGLM_API_KEYS to require keys")


class TokenBucket:
    """``rate`` requests per minute per name, bursts up to ``rate``."""

    MAX_NAMES = 10_000  # client addresses are unbounded; forget the oldest beyond this

    def __init__(self, rate: int):
        self.rate = rate
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, name: str, now: float | None = None) -> float:
        """Spend one token: 0.0 when allowed, else seconds until the next token."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(name, (float(self.rate), now))
        tokens = min(float(self.rate), tokens + (now - last) * self.rate / 60.0)
        if tokens < 1.0:
            self._buckets[name] = (tokens, now)
            return (1.0 - tokens) * 60.0 / self.rate
        if name not in self._buckets and len(self._buckets) >= self.MAX_NAMES:
            self._buckets.pop(next(iter(self._buckets)))
        self._buckets[name] = (tokens - 1.0, now)
        return 0.0


class Access:
    """ASGI middleware: API keys, rate limits and the request log."""

    def __init__(self, app, keys: tuple[str, ...], rate_limit: int):
        self.app = app
        self.keys = keys
        self.bucket = TokenBucket(rate_limit) if rate_limit > 0 else None

    def _caller(self, scope) -> tuple[str | None, str]:
        """(key id or None when refused, reason)."""
        if not self.keys:
            client = scope.get("client") or ("local", 0)
            return f"addr-{client[0]}", ""
        auth = header_value(scope, b"authorization")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, "an API key is required: send the header 'Authorization: Bearer <key>'"
        token = token.strip()
        # compare_digest against every key: the time taken does not tell which prefix matched
        if not any(hmac.compare_digest(token.encode(), k.encode()) for k in self.keys):
            return None, "the API key is not valid"
        return key_id(token), ""

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        t0 = time.perf_counter()
        status = {"code": 0}

        async def logged_send(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        who: str | None = "-"
        try:
            if path.startswith(PROTECTED) and scope.get("method") != "OPTIONS":
                who, reason = self._caller(scope)
                if who is None:
                    who = "-"
                    return await send_json(logged_send, 401, error_body(path, 401, reason, "authentication_error"),
                                           {"www-authenticate": "Bearer"})
                wait = self.bucket.take(who) if self.bucket else 0.0
                if wait and self.bucket:
                    msg = f"rate limit of {self.bucket.rate} requests per minute reached; retry in {math.ceil(wait)} s"
                    return await send_json(logged_send, 429, error_body(path, 429, msg, "rate_limit_error"),
                                           {"retry-after": str(math.ceil(wait))})
            scope.setdefault("state", {})["caller"] = who
            await self.app(scope, receive, logged_send)
        finally:
            log.info("%s %s %s %.3fs %s", scope.get("method"), path, status["code"] or "-",
                     time.perf_counter() - t0, who)


def question_tag(question: str) -> str:
    """A question's stand-in in logs: its length and a short hash."""
    return f"<{len(question)} chars, sha256 {hashlib.sha256(question.encode()).hexdigest()[:10]}>"
