"""Web search providers behind the :class:`webglm.protocols.SearchEngine` protocol.

Each engine turns provider failures into :class:`EngineError` with a short
``kind`` (``timeout``, ``rate_limited``, ``auth``, ``http_500``, ``malformed``,
``network``...) so failover can report why it moved on. API keys travel in
headers where the provider allows it (SerpAPI only takes a query parameter),
and are scrubbed from every error message.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any, Mapping
from urllib.parse import parse_qs, urlsplit

import httpx

from ..errors import SearchError
from ..retry import RetryPolicy, Retryable, acall, retry_after
from ..types import SearchHit

# Providers highlight matches with inline tags; only those are stripped, so literal
# "<...>" text in a snippet survives.
_TAG = re.compile(r"</?(?:b|strong|em|i|u|mark|span|a|br|wbr|sup|sub)\b[^<>]*>", re.IGNORECASE)


class EngineError(SearchError):
    """One engine failed; ``kind`` says how, ``retry_after`` when the provider said so."""

    def __init__(self, message: str, *, kind: str = "error", retry_after: float | None = None, **kwargs: Any):
        self.kind = kind
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


def clean(text: Any) -> str:
    """Strip markup and entities that providers leave in titles and snippets."""
    if not isinstance(text, str):
        return ""
    return " ".join(html.unescape(_TAG.sub("", text)).split())


def _retry_after(response: httpx.Response) -> float | None:
    return retry_after(response.headers.get("retry-after"))


class HTTPEngine:
    """Shared plumbing: one request, error mapping, one short Retry-After wait."""

    name = "http"
    max_wait = 2.0  # longest Retry-After honoured inline; longer ones fail over instead

    def __init__(self, client: httpx.AsyncClient, *, endpoint: str, timeout: float, secret: str = ""):
        self.client = client
        self.endpoint = endpoint
        self.timeout = timeout
        self._secret = secret

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def _error(self, message: str, kind: str, retry_after: float | None = None) -> EngineError:
        return EngineError(
            f"{self.name}: {self._scrub(message)}", kind=kind, retry_after=retry_after, stage="search"
        )

    async def _send(self, method: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.client.request(method, self.endpoint, timeout=self.timeout, **kwargs)
        except httpx.TimeoutException:
            raise self._error(f"no answer within {self.timeout:g}s", "timeout") from None
        except httpx.HTTPError as exc:
            raise self._error(f"{type(exc).__name__}: {exc}", "network") from None

    async def request(self, method: str, **kwargs: Any) -> httpx.Response:
        """Send the request; on a 429 with a short Retry-After, retry once; map HTTP errors."""
        async def attempt() -> httpx.Response:
            response = await self._send(method, **kwargs)
            if response.status_code == 429:
                wait = _retry_after(response)
                raise Retryable(self._error("rate limited (HTTP 429)", "rate_limited", wait), wait)
            return response

        # a longer wait, or none given, fails over to the next engine instead of stalling
        policy = RetryPolicy(retries=1, max_wait=self.max_wait, longer_waits="give_up", needs_retry_after=True)
        response = await acall(attempt, policy)
        self.check_status(response)
        return response

    def check_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status == 429:
            raise self._error("rate limited (HTTP 429)", "rate_limited", _retry_after(response))
        if status in (401, 403):
            raise self._error(f"HTTP {status}: {self.auth_hint(response)}", "auth")
        if status >= 400:
            raise self._error(f"HTTP {status}: {self._detail(response)}", f"http_{status}")

    def auth_hint(self, response: httpx.Response) -> str:
        return self._detail(response)

    def _detail(self, response: httpx.Response) -> str:
        return " ".join(response.text[:200].split())

    def json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise self._error("malformed JSON in the response", "malformed") from None

    def hit(self, rank: int, url: Any, title: Any, snippet: Any) -> SearchHit | None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return None
        return SearchHit(url=url, title=clean(title), snippet=clean(snippet), rank=rank, engine=self.name)

    def hits(self, rows: Any, k: int, keys: tuple[str, str, str]) -> list[SearchHit]:
        """Build hits from a provider's list of result objects (url, title, snippet keys)."""
        if not isinstance(rows, list):
            raise self._error("unexpected response shape (no result list)", "malformed")
        out: list[SearchHit] = []
        for row in rows:
            if isinstance(row, Mapping):
                hit = self.hit(len(out) + 1, row.get(keys[0]), row.get(keys[1]), row.get(keys[2]))
                if hit is not None:
                    out.append(hit)
            if len(out) >= k:
                break
        return out


class SearXNGEngine(HTTPEngine):
    """A SearXNG instance's JSON API (``format=json`` must be enabled in its settings)."""

    name = "searxng"

    def __init__(self, client: httpx.AsyncClient, base_url: str, timeout: float):
        base = base_url.rstrip("/")
        super().__init__(
            client, endpoint=base if base.endswith("/search") else base + "/search", timeout=timeout
        )

    def auth_hint(self, response: httpx.Response) -> str:
        return "the instance refused format=json; add `json` to search.formats in its settings.yml"

    async def search(self, query: str, k: int) -> list[SearchHit]:
        response = await self.request("GET", params={"q": query, "format": "json", "pageno": 1})
        data = self.json(response)
        if not isinstance(data, Mapping):
            raise self._error("unexpected response shape", "malformed")
        return self.hits(data.get("results"), k, ("url", "title", "content"))


class BraveEngine(HTTPEngine):
    """Brave Search API (key in the ``X-Subscription-Token`` header)."""

    name = "brave"

    def __init__(self, client: httpx.AsyncClient, endpoint: str, api_key: str, timeout: float):
        super().__init__(client, endpoint=endpoint, timeout=timeout, secret=api_key)

    def _detail(self, response: httpx.Response) -> str:
        try:
            err = response.json().get("error") or {}
            return self._scrub(f"{err.get('code', '')} {err.get('detail', '')}".strip()) or "error"
        except (ValueError, AttributeError):
            return super()._detail(response)

    async def search(self, query: str, k: int) -> list[SearchHit]:
        headers = {"X-Subscription-Token": self._secret, "Accept": "application/json"}
        response = await self.request("GET", params={"q": query, "count": min(k, 20)}, headers=headers)
        data = self.json(response)
        if not isinstance(data, Mapping):
            raise self._error("unexpected response shape", "malformed")
        web = data.get("web") or {}
        return self.hits(
            web.get("results", []) if isinstance(web, Mapping) else None, k, ("url", "title", "description")
        )


class SerpAPIEngine(HTTPEngine):
    """SerpAPI's Google results (the key must be a query parameter there)."""

    name = "serpapi"
    _NO_RESULTS = "hasn't returned any results"

    def __init__(self, client: httpx.AsyncClient, endpoint: str, api_key: str, timeout: float):
        super().__init__(client, endpoint=endpoint, timeout=timeout, secret=api_key)

    def _detail(self, response: httpx.Response) -> str:
        try:
            return self._scrub(str(response.json().get("error", "error")))
        except (ValueError, AttributeError):
            return super()._detail(response)

    async def search(self, query: str, k: int) -> list[SearchHit]:
        params = {"engine": "google", "q": query, "num": k, "api_key": self._secret}
        data = self.json(await self.request("GET", params=params))
        if not isinstance(data, Mapping):
            raise self._error("unexpected response shape", "malformed")
        if data.get("error"):
            if self._NO_RESULTS in str(data["error"]):
                return []
            raise self._error(str(data["error"]), "api_error")
        return self.hits(data.get("organic_results", []), k, ("link", "title", "snippet"))


class DuckDuckGoEngine(HTTPEngine):
    """DuckDuckGo's HTML endpoint (no key; scraped, so often rate limited)."""

    name = "duckduckgo"

    def __init__(self, client: httpx.AsyncClient, endpoint: str, timeout: float):
        super().__init__(client, endpoint=endpoint, timeout=timeout)

    async def search(self, query: str, k: int) -> list[SearchHit]:
        response = await self.request("POST", data={"q": query, "b": ""})
        if (
            response.status_code == 202
            or "anomaly-modal" in response.text
            or "bots use DuckDuckGo" in response.text
        ):
            raise self._error("DuckDuckGo answered with a bot challenge", "rate_limited")
        return self._parse(response.text, k)

    def _parse(self, text: str, k: int) -> list[SearchHit]:
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(text, "lxml")
        out: list[SearchHit] = []
        for result in soup.select("div.result"):
            if "result--ad" in (result.get("class") or []):
                continue
            link = result.select_one("a.result__a")
            if link is None:
                continue
            snippet = result.select_one(".result__snippet")
            hit = self.hit(
                len(out) + 1,
                _ddg_target(str(link.get("href", ""))),
                link.get_text(" "),
                snippet.get_text(" ") if snippet else "",
            )
            if hit is not None:
                out.append(hit)
            if len(out) >= k:
                break
        return out


def _ddg_target(href: str) -> str:
    """Unwrap DuckDuckGo's ``/l/?uddg=<target>`` redirect links."""
    if href.startswith("//"):
        href = "https:" + href
    parts = urlsplit(href)
    if parts.path.startswith("/l/"):
        target = parse_qs(parts.query).get("uddg", [""])[0]
        return target
    return href
