"""One HTTP retry policy for every caller: page fetches, search engines, the OpenAI backend.

What is retried is the caller's decision (it raises :class:`Retryable` for a 429/5xx or a
transient network error); how long to wait is decided here, the same way everywhere:
the server's ``Retry-After`` (delta-seconds or an HTTP date, RFC 9110 §10.2.3) when it sent
one, else jittered exponential backoff; a wait past the policy's ``max_wait`` is either
shortened to it or ends the retries (``longer_waits="give_up"``, for callers that would
rather fail over), and no wait ever runs past the caller's deadline.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["RETRY_STATUSES", "RetryPolicy", "Retryable", "acall", "call", "retry_after"]

T = TypeVar("T")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value: delta-seconds (``"120"``) or an
    HTTP date (``"Wed, 21 Oct 2026 07:28:00 GMT"``); None when absent or unreadable. A date in
    the past gives 0."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; an obsolete form may omit the zone
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class Retryable(Exception):
    """Raised by an attempt that may be repeated: ``error`` is what the caller raises when
    the retries end, ``retry_after`` the server's hint in seconds (None if it gave none)."""

    def __init__(self, error: BaseException, retry_after: float | None = None):
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times to retry and how long to wait before each retry."""

    retries: int = 3  # retries after the first attempt
    backoff: float = 0.2  # seconds before the first retry without a Retry-After (then doubling)
    max_wait: float = 10.0  # the longest single wait
    longer_waits: str = "cap"  # a longer Retry-After: "cap" waits max_wait, "give_up" stops retrying
    needs_retry_after: bool = False  # retry only when the server said when

    def delay(self, attempt: int, hint: float | None) -> float | None:
        """Seconds to wait before retry number ``attempt`` (1-based), or None to stop."""
        if attempt > self.retries or (hint is None and self.needs_retry_after):
            return None
        if hint is None:
            hint = self.backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
        if hint > self.max_wait:
            return None if self.longer_waits == "give_up" else self.max_wait
        return hint


def call(attempt: Callable[[], T], policy: RetryPolicy, *, sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``attempt`` until it returns, retrying on :class:`Retryable` as ``policy`` says;
    when the retries end, the last attempt's ``error`` is raised."""
    n = 0
    while True:
        try:
            return attempt()
        except Retryable as exc:
            n += 1
            wait = policy.delay(n, exc.retry_after)
            if wait is None:
                raise exc.error from None
            sleep(wait)


async def acall(attempt: Callable[[], Awaitable[T]], policy: RetryPolicy, *, deadline: float | None = None) -> T:
    """:func:`call` for coroutines. ``deadline`` (event-loop time) ends the retries when the
    next wait would reach it: a retry that cannot finish in the budget is not started."""
    loop = asyncio.get_running_loop()
    n = 0
    while True:
        try:
            return await attempt()
        except Retryable as exc:
            n += 1
            wait = policy.delay(n, exc.retry_after)
            if wait is None or (deadline is not None and loop.time() + wait >= deadline):
                raise exc.error from None
            await asyncio.sleep(wait)
