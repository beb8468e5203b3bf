"""The two HTTP clients of the retriever.

* the *API client* talks to configured search endpoints (trusted: a SearXNG
  on localhost is normal), with plain connection limits;
* the *fetch client* fetches untrusted result URLs. Its transport resolves
  every host itself, checks each address against the :class:`AddressPolicy`
  and connects to the checked address, so no DNS trick or IP spelling reaches
  a private address. Redirects are not followed by the client: the fetcher
  follows them hop by hop and re-checks each one. Proxies from the environment
  are ignored, because a proxy would make the connect-time check meaningless.

The pipeline owns both clients and closes them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any, Iterable

import httpcore
import httpx

from ..config import FetchConfig, SearchConfig
from ..errors import BlockedURLError
from .guard import AddressPolicy, parse_ip

_BROWSER_ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1"


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that only connects to policy-approved addresses.

    ``inner`` does the actual connecting (the default anyio backend); tests pass
    a recording backend to prove that refused hosts are never dialled.
    """

    def __init__(self, policy: AddressPolicy, inner: httpcore.AsyncNetworkBackend | None = None):
        self.policy = policy
        self.inner = inner or httpcore.AnyIOBackend()

    async def _resolve(self, host: str, port: int) -> list[Any]:
        literal = parse_ip(host)
        if literal is not None:
            return [literal]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from None
        seen: list[Any] = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if ip not in seen:
                seen.append(ip)
        return seen

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port)
        # Every address must pass: a name resolving to one public and one private
        # address is refused outright rather than raced.
        for ip in addresses:
            self.policy.check_address(host, port, ip)
        last: Exception | None = None
        for ip in addresses:
            try:
                return await self.inner.connect_tcp(
                    str(ip), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last or httpcore.ConnectError(f"no address for {host!r}")

    async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None):
        raise BlockedURLError("unix sockets are never used for untrusted URLs", url=path)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guarded_transport(
    fetch: FetchConfig, inner: httpcore.AsyncNetworkBackend | None = None
) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connections go through :class:`GuardedBackend`."""
    policy = AddressPolicy.from_config(fetch.allow_hosts, fetch.allowed_ports)
    transport = httpx.AsyncHTTPTransport(trust_env=False, retries=0)
    pool = transport._pool  # httpx exposes no network_backend option; swap the pool it built
    if not isinstance(pool, httpcore.AsyncConnectionPool):  # pragma: no cover - guards an httpx upgrade
        raise RuntimeError("unsupported httpx version: cannot install the SSRF guard")
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=pool._ssl_context,
        max_connections=fetch.concurrency,
        max_keepalive_connections=fetch.concurrency,
        keepalive_expiry=5.0,
        http1=True,
        http2=False,
        retries=0,
        network_backend=GuardedBackend(policy, inner),
    )
    return transport


def make_fetch_client(
    fetch: FetchConfig, *, backend: httpcore.AsyncNetworkBackend | None = None
) -> httpx.AsyncClient:
    """The hardened client for untrusted URLs (``backend``: inner connector, for tests)."""
    return httpx.AsyncClient(
        transport=guarded_transport(fetch, backend),
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(fetch.page_timeout),
        headers={
            "User-Agent": fetch.user_agent,
            "Accept": _BROWSER_ACCEPT,
            "Accept-Encoding": "gzip, deflate",
            "Accept-Language": "en;q=0.9, *;q=0.5",
        },
    )


def make_api_client(search: SearchConfig, fetch: FetchConfig | None = None) -> httpx.AsyncClient:
    """A plain client for configured search APIs (trusted endpoints)."""
    user_agent = (fetch or FetchConfig()).user_agent
    return httpx.AsyncClient(
        timeout=httpx.Timeout(search.timeout),
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
        follow_redirects=True,
        headers={"User-Agent": user_agent},
    )


def make_clients(fetch: FetchConfig, search: SearchConfig) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
    """Return ``(api_client, fetch_client)``; the caller closes both."""
    return make_api_client(search, fetch), make_fetch_client(fetch)
