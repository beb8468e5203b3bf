"""Turning the bytes of a local file into text, or into a clear reason to skip it.

Web bodies are decoded by :func:`.body.decode_body`, which looks for NUL bytes in the
first 2 KiB only (a page is judged by its start). A local file is read whole anyway,
so here the whole file is checked: a NUL anywhere marks it binary, and a UTF-16 or
UTF-32 byte-order mark decodes it in that encoding instead of a guessed code page.
"""

from __future__ import annotations

import codecs
import html
import re

from ..errors import CorpusError, FetchError
from ..types import Page
from .body import decode_body, pdf_supported

MAX_FILE_BYTES = 20 * 1024 * 1024
# libxml2 (under lxml and trafilatura) stops building the tree at depth 256 and drops the
# rest silently; a little below that, a file is read as flat text instead.
MAX_HTML_DEPTH = 240

_BOMS = (  # longest first: the UTF-32-LE mark starts with the UTF-16-LE one
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
# Elements that never hold children, or whose end tag HTML lets authors leave out: counting
# them as nesting would call ordinary sloppy pages deep.
_NO_DEPTH = frozenset(
    "area base br col embed hr img input link meta param source track wbr p li dt dd tr td th "
    "option optgroup thead tbody tfoot colgroup rt rp".split()
)
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]{0,30})\b[^>]*?(/?)>")
_DROP = re.compile(r"<(script|style|noscript|template)\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)
_BLOCK = re.compile(r"</?(?:div|p|br|li|tr|h[1-6]|section|article|table|ul|ol|blockquote|pre)\b[^>]*>",
                    re.IGNORECASE)
_ANY_TAG = re.compile(r"<[^>]*>")
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)


def decode_file(data: bytes, pdf: bool = False) -> str:
    """Text of a local file; raises CorpusError (with the reason) for binary or undecodable bytes."""
    if pdf:
        return data.decode("latin-1")  # carried like a fetched PDF: one char per byte
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError as exc:
                raise CorpusError(f"not valid {codec.upper()} despite its byte-order mark "
                                  f"(at byte {exc.start})") from None
            break
    else:
        nul = data.find(b"\x00")
        if nul >= 0:
            raise CorpusError(f"not a text file (NUL byte at offset {nul})")
        try:
            text = decode_body(data, "")
        except FetchError as exc:
            raise CorpusError(f"not a text file ({exc.kind})") from None
    if "\x00" in text:
        raise CorpusError(f"not a text file (NUL character at offset {text.index(chr(0))})")
    return text.lstrip("\ufeff")


def too_deep(markup: str, limit: int = MAX_HTML_DEPTH) -> bool:
    """True when elements nest deeper than ``limit`` (a linear scan of the tags)."""
    depth = 0
    for m in _TAG.finditer(markup):
        if m.group(3) or m.group(2).lower() in _NO_DEPTH:
            continue
        if m.group(1):
            depth = max(depth - 1, 0)
        else:
            depth += 1
            if depth > limit:
                return True
    return False


def flat_html(markup: str) -> tuple[str, str]:
    """(title, text) of HTML by dropping tags: linear time, no tree, nothing lost to depth."""
    found = _TITLE.search(markup)
    title = " ".join(html.unescape(_ANY_TAG.sub("", found.group(1))).split()) if found else ""
    text = _BLOCK.sub("\n", _DROP.sub(" ", markup))
    text = html.unescape(_ANY_TAG.sub("", text))
    lines = (" ".join(line.split()) for line in text.splitlines())
    return title, "\n".join(line for line in lines if line)


def pdf_text(carried: str, url: str) -> tuple[str, str]:
    """(title, text) of a PDF whose bytes are carried one character per byte."""
    if not pdf_supported():
        raise CorpusError("reading PDF files needs pypdf", url=url, hint="pip install 'webglm[pdf]'")
    from .extract import _pdf_text

    page = Page(url=url, final_url=url, status=200, content_type="application/pdf", text=carried, fetched_at=0.0)
    try:
        title, text = _pdf_text(page)
    except FetchError as exc:
        raise CorpusError(str(exc)[:300], url=url) from None
    except Exception as exc:  # noqa: BLE001 - a malformed PDF can fail anywhere inside pypdf
        raise CorpusError(f"unreadable PDF: {type(exc).__name__}: {exc}"[:300], url=url) from None
    if not text.strip():
        raise CorpusError("no text in the PDF (a scan needs OCR first)", url=url)
    return title, text
