"""SSRF policy for untrusted URLs: which hosts, addresses and ports may be reached.

Two layers use the same :class:`AddressPolicy`:

* :func:`check_url` runs before a request (and on every redirect hop). It
  rejects bad schemes and ports and any IP literal in any spelling
  (``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``[::ffff:127.0.0.1]``...)
  that is not globally routable, without touching the network.
* :class:`GuardedBackend` (see :mod:`webglm.retriever.client`) runs at connect
  time: it resolves the host itself, checks every address, then connects to the
  checked address. DNS answers therefore cannot smuggle a private address past
  the first check (DNS rebinding).

The only exemption is an explicit allow-list of ``host`` or ``host:port``
entries (local test servers, intranet corpora).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import urlsplit

from ..errors import BlockedURLError, ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_INET_PART = re.compile(r"^(0x[0-9a-f]*|0[0-7]*|[1-9][0-9]*)$", re.IGNORECASE)


def parse_inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """Parse ``host`` the way the C library's ``inet_aton`` does, or return None.

    Resolvers accept ``127.1``, ``2130706433``, ``0x7f.0.0.1`` and octal parts, so a
    policy that only understands dotted quads could be bypassed by them.
    """
    parts = host.rstrip(".").split(".") if host else []
    if not 1 <= len(parts) <= 4 or not all(_INET_PART.match(p) for p in parts):
        return None
    try:
        nums = [
            int(p, 0) if not (len(p) > 1 and p[0] == "0" and p[1] not in "xX") else int(p, 8) for p in parts
        ]
    except ValueError:
        return None
    # The last part fills all remaining bytes: a.b.c.d, a.b.(16 bits), a.(24 bits), (32 bits).
    limits = [256] * (len(nums) - 1) + [256 ** (5 - len(nums))]
    if any(n >= lim for n, lim in zip(nums, limits)):
        return None
    value = 0
    for n in nums[:-1]:
        value = value * 256 + n
    value = (value << (8 * (5 - len(nums)))) | nums[-1]
    return ipaddress.IPv4Address(value)


def parse_ip(host: str) -> IPAddress | None:
    """Return the address an IP-literal host denotes (any spelling), else None."""
    h = host.strip().lower()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    h = h.split("%", 1)[0]  # zone ids (fe80::1%eth0) do not change the address class
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        pass
    return parse_inet_aton(h)


def is_public_ip(ip: IPAddress) -> bool:
    """True only for globally routable unicast addresses.

    IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4) are judged by the
    embedded address, so ``::ffff:127.0.0.1`` counts as loopback.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_ip(embedded)
    return bool(ip.is_global) and not ip.is_multicast and not ip.is_reserved


def canonical_host(host: str) -> str:
    """Lower-case host; IP literals in any spelling become their normal form."""
    ip = parse_ip(host)
    if ip is not None:
        return str(ip.ipv4_mapped or ip) if isinstance(ip, ipaddress.IPv6Address) else str(ip)
    return host.strip().lower().rstrip(".")


def _parse_allow_entry(entry: str) -> tuple[str, int | None]:
    text = entry.strip()
    if not text:
        raise ConfigError("empty --allow-host entry", hint="use HOST or HOST:PORT, e.g. 127.0.0.1:8080")
    parsed = urlsplit("//" + text)
    try:
        port = parsed.port
    except ValueError:
        raise ConfigError(f"invalid --allow-host entry {entry!r}", hint="use HOST or HOST:PORT") from None
    if not parsed.hostname or parsed.path or parsed.query:
        raise ConfigError(f"invalid --allow-host entry {entry!r}", hint="use HOST or HOST:PORT")
    return canonical_host(parsed.hostname), port


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which destinations untrusted URLs may reach.

    ``allow`` holds (canonical host, port or None) pairs exempt from the
    public-address and port rules; ``ports`` are the ports allowed otherwise.
    """

    allow: frozenset[tuple[str, int | None]] = frozenset()
    ports: frozenset[int] = frozenset({80, 443})

    @classmethod
    def from_config(cls, allow_hosts: Iterable[str], allowed_ports: Iterable[int]) -> "AddressPolicy":
        """Build a policy from ``FetchConfig.allow_hosts`` / ``allowed_ports``."""
        return cls(frozenset(_parse_allow_entry(e) for e in allow_hosts), frozenset(allowed_ports))

    def is_allowed_host(self, host: str, port: int) -> bool:
        """True when ``host:port`` is on the explicit allow-list."""
        h = canonical_host(host)
        return (h, port) in self.allow or (h, None) in self.allow

    def check_address(self, host: str, port: int, ip: IPAddress) -> None:
        """Raise BlockedURLError unless a connection to ``ip`` (for ``host``) is allowed."""
        if self.is_allowed_host(host, port):
            return
        if not is_public_ip(ip):
            raise BlockedURLError(f"refused non-public address {ip} for host {host!r}", url=f"{host}:{port}")
        if port not in self.ports:
            raise BlockedURLError(
                f"refused port {port} for host {host!r}", kind="blocked_port", url=f"{host}:{port}"
            )


def check_url(url: str, policy: AddressPolicy) -> tuple[str, int]:
    """Check an untrusted URL before any network access; return (host, port).

    Rejects non-http(s) schemes, credentials in the URL, ports outside the
    policy and IP literals that are not public. Host names are checked again
    after resolution, at connect time.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BlockedURLError("malformed URL", kind="bad_url", url=url) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise BlockedURLError(f"scheme {scheme or '(none)'!r} is not allowed", kind="blocked_scheme", url=url)
    host = parts.hostname or ""
    if not host:
        raise BlockedURLError("URL has no host", kind="bad_url", url=url)
    if parts.username is not None or parts.password is not None:
        raise BlockedURLError("URLs with credentials are not fetched", url=url)
    port = port if port is not None else (443 if scheme == "https" else 80)
    if policy.is_allowed_host(host, port):
        return host, port
    ip = parse_ip(host)
    if ip is not None and not is_public_ip(ip):
        raise BlockedURLError(f"refused non-public address {ip}", url=url)
    if host.lower().rstrip(".") in ("localhost", "localhost.localdomain") or host.lower().endswith(
        ".localhost"
    ):
        raise BlockedURLError("refused localhost", url=url)
    if port not in policy.ports:
        raise BlockedURLError(f"refused port {port}", kind="blocked_port", url=url)
    return host, port
