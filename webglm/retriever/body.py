"""Reading an untrusted response body with bounded memory, and decoding it.

Bytes are read from the raw stream and inflated here rather than by httpx so
that decompression can be bounded per call (``max_length``): a gzip bomb never
expands beyond the cap, however small its compressed chunks are.
"""

from __future__ import annotations

import re
import zlib

import httpx

from ..errors import FetchError

ALLOWED_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/plain"})
PDF = "application/pdf"


def pdf_supported() -> bool:
    """True when the optional PDF extractor (pypdf) is installed."""
    try:
        import pypdf  # noqa: F401
    except ImportError:
        return False
    return True


_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE
)


class _Inflater:
    """Incremental gzip/deflate decoder that refuses to produce more than ``limit`` bytes."""

    def __init__(self, encoding: str, limit: int):
        self.limit = limit
        self.total = 0
        # 32 + 15: accept a gzip or a zlib header (servers mislabel deflate both ways)
        self._d = (
            zlib.decompressobj(32 + zlib.MAX_WBITS) if encoding in ("gzip", "x-gzip", "deflate") else None
        )

    def feed(self, data: bytes) -> bytes:
        if self._d is None:
            self._count(len(data))
            return data
        out = []
        while data and not self._d.eof:
            try:
                piece = self._d.decompress(data, self.limit - self.total + 1)
            except zlib.error as exc:
                raise FetchError(f"corrupt compressed body: {exc}", kind="decode") from None
            self._count(len(piece))
            out.append(piece)
            data = self._d.unconsumed_tail
        return b"".join(out)

    def _count(self, n: int) -> None:
        self.total += n
        if self.total > self.limit:
            raise FetchError(f"body larger than {self.limit} bytes once decompressed", kind="too_large")


def media_type(response: httpx.Response) -> tuple[str, str]:
    """Return (mime type, charset or '') from the Content-Type header."""
    raw = response.headers.get("content-type", "")
    mime, _, params = raw.partition(";")
    charset = ""
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'")
    return mime.strip().lower(), charset


def check_headers(response: httpx.Response, max_bytes: int, pdf: bool = False) -> str:
    """Reject a response by its headers before reading the body; return its mime type."""
    mime, _ = media_type(response)
    if mime and mime not in ALLOWED_TYPES and not (pdf and mime == PDF):
        raise FetchError(f"content type {mime!r} is not fetched", kind="content_type")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip", "deflate", ""):
        raise FetchError(f"unsupported content encoding {encoding!r}", kind="content_encoding")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise FetchError(f"declared size {length} exceeds {max_bytes} bytes", kind="too_large")
    return mime


async def read_capped(response: httpx.Response, max_bytes: int, max_decoded: int) -> bytes:
    """Stream the body: at most ``max_bytes`` on the wire and ``max_decoded`` after inflating."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    inflater = _Inflater(encoding, max_decoded)
    received = 0
    parts: list[bytes] = []
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if received > max_bytes:
            raise FetchError(f"body larger than {max_bytes} bytes", kind="too_large")
        parts.append(inflater.feed(chunk))
    return b"".join(parts)


def decode_body(body: bytes, header_charset: str) -> str:
    """Decode bytes to text: header charset, then <meta charset>, UTF-8, then detection."""
    if b"\x00" in body[:2048] and not body.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FetchError("binary body", kind="content_type")
    candidates = [header_charset]
    meta = _META_CHARSET.search(body[:4096])
    if meta:
        candidates.append(meta.group(1).decode("ascii", "ignore"))
    candidates.append("utf-8")
    for name in candidates:
        if not name:
            continue
        try:
            return body.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    return _detect(body)


def _detect(body: bytes) -> str:
    """Guess an undeclared, non-UTF-8 encoding.

    Detectors confuse the single-byte Latin code pages with each other, so a
    Latin-script guess decodes as windows-1252, the fallback the HTML standard
    prescribes for Western pages; other scripts keep the detector's choice.
    """
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - charset-normalizer is a declared dependency
        return body.decode("cp1252", errors="replace")
    best = from_bytes(body[:262_144]).best()
    if best is None or best.encoding is None:
        raise FetchError("undecodable body", kind="decode")
    if all("Latin" in name or "Punctuation" in name or "Symbol" in name for name in best.alphabets):
        return body.decode("cp1252", errors="replace")
    return body.decode(best.encoding, errors="replace")
