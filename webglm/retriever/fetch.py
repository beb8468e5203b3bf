"""Concurrent, budgeted fetching of untrusted URLs.

Every URL gets a per-page timeout; the whole stage ends ``stage_budget``
seconds after the first page arrives (or at ``total_timeout``), whichever is
first. Pages still running then are cancelled and recorded as ``budget``
failures: a 30 s page never delays the answer. Redirects are followed here,
hop by hop, each hop re-checked by :func:`check_url`; the transport re-checks
the resolved address at connect time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Callable, Sequence
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx

from ..config import FetchConfig
from ..errors import FetchError
from ..retry import RETRY_STATUSES, RetryPolicy, Retryable, acall, retry_after
from ..types import Failure, Page
from .body import PDF, check_headers, decode_body, media_type, pdf_supported, read_capped
from .guard import AddressPolicy, check_url

_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """Pages that arrived (in input order) and a failure per URL that did not."""

    pages: tuple[Page, ...]
    failures: tuple[Failure, ...]
    elapsed: float


def _failure(url: str, exc: BaseException) -> Failure:
    if isinstance(exc, FetchError):
        return Failure(stage="fetch", kind=exc.kind, detail=str(exc)[:300], url=url)
    if isinstance(exc, (httpx.TimeoutException, TimeoutError, asyncio.TimeoutError)):
        return Failure(stage="fetch", kind="timeout", detail="page timed out", url=url)
    if isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol)):
        return Failure(stage="fetch", kind="bad_url", detail=str(exc)[:300], url=url)
    if isinstance(exc, httpx.TransportError):
        return Failure(stage="fetch", kind="network", detail=f"{type(exc).__name__}: {exc}"[:300], url=url)
    return Failure(stage="fetch", kind="error", detail=f"{type(exc).__name__}: {exc}"[:300], url=url)


class Fetcher:
    """Fetches many URLs at once through the hardened client (see :func:`make_clients`)."""

    def __init__(self, client: httpx.AsyncClient, config: FetchConfig):
        self.client = client
        self.config = config
        self.policy = AddressPolicy.from_config(config.allow_hosts, config.allowed_ports)
        self._pdf = config.pdf and pdf_supported()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._global = asyncio.Semaphore(config.concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._robots: dict[str, RobotFileParser | None] = {}

    def _limits(self, host: str) -> tuple[asyncio.Semaphore, asyncio.Semaphore]:
        # Semaphores belong to one event loop; a caller that runs each question in a
        # fresh loop (asyncio.run per call) gets fresh ones instead of a RuntimeError.
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._global = asyncio.Semaphore(self.config.concurrency)
            self._hosts = {}
        return self._global, self._hosts.setdefault(host, asyncio.Semaphore(self.config.per_host))

    async def fetch(self, url: str) -> Page:
        """Fetch one URL within ``page_timeout``; raise FetchError/BlockedURLError."""
        check_url(url, self.policy)  # refuse before waiting for a slot
        all_hosts, this_host = self._limits((urlsplit(url).hostname or "").lower())
        async with all_hosts, this_host:
            deadline = asyncio.get_running_loop().time() + self.config.page_timeout
            return await asyncio.wait_for(self._fetch_now(url, deadline), self.config.page_timeout)

    async def _fetch_now(self, url: str, deadline: float) -> Page:
        if self.config.robots and not await self._robots_allow(url):
            raise FetchError("disallowed by robots.txt", kind="robots", url=url)
        return await self._with_retries(url, deadline)

    async def _with_retries(self, url: str, deadline: float) -> Page:
        async def attempt() -> Page:
            try:
                return await self._follow(url)
            except httpx.TimeoutException as exc:
                raise Retryable(FetchError(f"timed out: {type(exc).__name__}", kind="timeout", url=url)) from None

        # waits of any length are fine while they fit the page's deadline
        policy = RetryPolicy(retries=self.config.retries, backoff=0.4, max_wait=float("inf"))
        return await acall(attempt, policy, deadline=deadline)

    async def _follow(self, url: str) -> Page:
        current = url
        for _hop in range(self.config.max_redirects + 1):
            check_url(current, self.policy)
            async with self.client.stream("GET", current) as response:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    current = urljoin(current, response.headers["location"])
                    continue
                return await self._read(url, current, response)
        raise FetchError(f"more than {self.config.max_redirects} redirects", kind="redirects", url=url)

    async def _read(self, url: str, final: str, response: httpx.Response) -> Page:
        status = response.status_code
        if status in RETRY_STATUSES:
            err = FetchError(f"HTTP {status}", kind=f"http_{status}", url=url)
            hint = retry_after(response.headers.get("retry-after")) if status in (429, 503) else None
            raise Retryable(err, hint)
        if not 200 <= status < 300:
            raise FetchError(f"HTTP {status}", kind=f"http_{status}", url=url)
        mime = check_headers(response, self.config.max_bytes, pdf=self._pdf)
        body = await read_capped(response, self.config.max_bytes, self.config.max_decompressed_bytes)
        if mime == PDF:
            # Page.text is a str: PDF bytes travel losslessly as latin-1 until extraction.
            text = body.decode("latin-1")
            return Page(
                url=url, final_url=final, status=status, content_type=mime, text=text, fetched_at=time.time()
            )
        text = decode_body(body, media_type(response)[1])
        if not mime:  # no header: sniff, and keep only what looks like text
            mime = "text/html" if "<html" in text[:2048].lower() else "text/plain"
        return Page(
            url=url, final_url=final, status=status, content_type=mime, text=text, fetched_at=time.time()
        )

    async def _robots_allow(self, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._robots:
            self._robots[origin] = await self._load_robots(origin)
        parser = self._robots[origin]
        return parser is None or parser.can_fetch(self.config.user_agent, url)

    async def _load_robots(self, origin: str) -> RobotFileParser | None:
        # A missing or broken robots.txt means "allowed", as crawlers conventionally treat it.
        try:
            async with self.client.stream("GET", origin + "/robots.txt") as response:
                if response.status_code != 200:
                    return None
                body = await read_capped(response, 512 * 1024, 512 * 1024)
        except (httpx.HTTPError, FetchError):
            return None
        parser = RobotFileParser()
        parser.parse(body.decode("utf-8", "replace").splitlines())
        return parser

    async def _guarded(self, url: str) -> Page | Failure:
        try:
            return await self.fetch(url)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one page failing is data, not a stage failure
            return _failure(url, exc)

    async def fetch_many(
        self, urls: Sequence[str], on_page: Callable[[Page], None] | None = None
    ) -> FetchResult:
        """Fetch ``urls`` concurrently under the stage budget; never raises for one page.

        ``on_page`` is called as each page arrives, so work on it (extraction)
        can overlap the rest of the fetching.
        """
        loop = asyncio.get_running_loop()
        start = loop.time()
        hard = start + self.config.total_timeout
        deadline = hard
        tasks = {asyncio.create_task(self._guarded(u)): i for i, u in enumerate(urls)}
        results: dict[int, Page | Failure] = {}
        pending = set(tasks)
        while pending and (left := deadline - loop.time()) > 0:
            done, pending = await asyncio.wait(pending, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                outcome = results[tasks[task]] = task.result()
                if isinstance(outcome, Page):
                    if deadline == hard:
                        deadline = min(hard, loop.time() + self.config.stage_budget)
                    if on_page is not None:
                        on_page(outcome)
        for task in pending:
            task.cancel()
            results[tasks[task]] = Failure(
                stage="fetch",
                kind="budget",
                detail="cancelled at the fetch stage budget",
                url=urls[tasks[task]],
            )
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        ordered = [results[i] for i in range(len(urls))]
        return FetchResult(
            pages=tuple(r for r in ordered if isinstance(r, Page)),
            failures=tuple(r for r in ordered if isinstance(r, Failure)),
            elapsed=loop.time() - start,
        )
