"""Main-text extraction from fetched pages: trafilatura first, BeautifulSoup fallback.

Hidden text (see :mod:`.hidden`: attributes, inline styles and the page's own
stylesheets), scripts, styles and navigation are removed before either extractor
sees the page, because retrieved text is untrusted and hidden text is a classic
injection carrier. Terminal control characters are stripped from the result.
Extraction runs under a time limit so a pathological page cannot stall the
stage, in worker processes (:func:`.pools.process_pool`) or in threads of this process,
one page at a time (see ``_EXTRACT_LOCK``). A thread cannot be killed: its work is
bounded by the byte caps applied at fetch time and the tree budgets below.
"""

from __future__ import annotations

import asyncio
import re
import threading
import warnings
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Callable

from ..errors import FetchError
from ..sanitize import strip_controls
from ..types import Page
from .hidden import declarations, drop_hidden, hides, zero_font
from .linear import stream_text

_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webglm-extract")
_MIN_GOOD_CHARS = 200  # below this trafilatura probably missed the content: try the fallback
_DROP_TAGS = ("script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "embed")
_NAV_TAGS = ("nav", "header", "footer", "aside", "form", "button", "select", "menu")
_BLOCKS = (
    "p",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "blockquote",
    "td",
    "th",
    "dd",
    "dt",
    "figcaption",
)
_WARNED: set[str] = set()
_BLANKS = re.compile(r"[ \t\r\f\v]+")


def _clean_tree(html: str):
    """Parse HTML with lxml and drop hidden and non-content elements; None if unparsable."""
    import lxml.html
    from lxml import etree

    try:
        tree = lxml.html.fromstring(html)
    except (etree.ParserError, ValueError):
        return None
    drop_hidden(tree)  # first: it reads the <style> sheets that are stripped next
    etree.strip_elements(tree, *_DROP_TAGS, with_tail=False)
    return tree


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def _page_title(tree) -> str:
    found = tree.xpath("//title/text()") if tree is not None else []
    return " ".join(found[0].split()) if found else ""


def _trafilatura(tree) -> str:
    # Metadata extraction (with_metadata) would double the cost; the <title> is enough.
    import trafilatura

    text = trafilatura.extract(tree, include_comments=False, include_tables=True, include_links=False)
    return (text or "").strip()


def _is_hidden(tag) -> bool:
    """BeautifulSoup filter for markup lxml could not parse: hidden attributes and inline styles."""
    if tag.has_attr("hidden") or str(tag.get("aria-hidden", "")).lower() == "true":
        return True
    inline = declarations(str(tag.get("style", "")))
    style = {name: value for name, (value, _imp) in inline.items()}
    return hides(style) or zero_font(style) is True


def _soup_text(html: str) -> str:
    """Fallback: block-level text with BeautifulSoup, navigation and hidden parts removed."""
    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)  # XHTML served as HTML is common
        soup = BeautifulSoup(html, "lxml")
    for tag in soup.find_all(list(_DROP_TAGS + _NAV_TAGS)):
        tag.decompose()
    for tag in soup.find_all(_is_hidden):
        if not tag.decomposed:
            tag.decompose()
    lines = []
    for block in soup.find_all(list(_BLOCKS)):
        if block.find_parent(list(_BLOCKS)) is not None:
            continue  # its text is already part of an enclosing block
        text = " ".join(block.get_text(" ", strip=True).split())
        if text:
            lines.append(text)
    if not lines and soup.body is not None:
        lines = [" ".join(t.split()) for t in soup.body.get_text("\n").splitlines() if t.strip()]
    return "\n".join(lines)


def _serialize(tree) -> str:
    import lxml.html

    return lxml.html.tostring(tree, encoding="unicode")


# Budgets for the tree extractors. Real pages stay far below them (the 240 saved pages: at most
# 1.4 MB and 5k tags); beyond them lxml + trafilatura + BeautifulSoup need gigabytes, so the
# page is read by the linear streaming extractor instead.
TREE_MAX_CHARS = 6_000_000
TREE_MAX_TAGS = 100_000


def over_budget(html: str) -> bool:
    """True when ``html`` is too large for the tree extractors (see ``TREE_MAX_*``)."""
    return len(html) > TREE_MAX_CHARS or html.count("<", 0, TREE_MAX_CHARS) > TREE_MAX_TAGS


def _extract_html(html: str) -> tuple[str, str]:
    if over_budget(html):
        return stream_text(html)
    tree = _clean_tree(html)
    title = _page_title(tree)
    text = ""
    if tree is not None:
        try:
            text = _trafilatura(tree)
        except ImportError as exc:  # a broken install must be visible, not silently degrade quality
            _warn_once(f"trafilatura unavailable, using the BeautifulSoup fallback only: {exc}")
        except Exception:  # trafilatura raising on odd markup must not lose the page
            text = ""
    if len(text) < _MIN_GOOD_CHARS:
        # The fallback reads the cleaned tree when there is one, so both paths drop the same text.
        fallback = _soup_text(_serialize(tree) if tree is not None else html)
        if len(fallback) > len(text):
            text = fallback
    return title, text


_PDF_MAX_PAGES = 50  # enough for papers and reports; bounds the time a huge PDF can take


def _pdf_text(page: Page) -> tuple[str, str]:
    """Text of a PDF page object (bytes carried as latin-1 text by the fetcher)."""
    import io

    import pypdf

    try:
        reader = pypdf.PdfReader(io.BytesIO(page.text.encode("latin-1")))
        title = str(reader.metadata.get("/Title", "") or "") if reader.metadata else ""
        parts = [(p.extract_text() or "") for p in reader.pages[:_PDF_MAX_PAGES]]
    except (pypdf.errors.PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise FetchError(
            f"unreadable PDF: {exc}", kind="extract_pdf", stage="extract", url=page.url
        ) from None
    lines = (" ".join(line.split()) for part in parts for line in part.splitlines())
    return title.strip(), "\n".join(line for line in lines if line)


# One extraction at a time per process. lxml and trafilatura are not safe to run in several
# threads at once: four threads extracting the saved pages crashed the process within a few
# hundred pages (heap corruption in trafilatura's copy of the lxml tree). Under the GIL threads
# never extracted in parallel anyway; worker processes do, one page each at a time.
_EXTRACT_LOCK = threading.Lock()


# A page queued behind others in this process may wait this many time boxes before its own
# extraction starts; its box (``timeout``) counts from that start, not from the submission.
QUEUE_BOXES = 4


def _extract_sync(page: Page, on_start: Callable[[], None] | None = None) -> tuple[str, str]:
    """``(title, text)`` of a page, without terminal control sequences (see :mod:`webglm.sanitize`)."""
    with _EXTRACT_LOCK:
        if on_start is not None:
            on_start()
        title, text = _extract_any(page)
    return strip_controls(title), strip_controls(text)


def _extract_any(page: Page) -> tuple[str, str]:
    if page.content_type == "application/pdf":
        return _pdf_text(page)
    if page.content_type == "text/plain":
        text = "\n".join(_BLANKS.sub(" ", line).strip() for line in page.text.splitlines())
        return page.title, re.sub(r"\n{3,}", "\n\n", text).strip()
    title, text = _extract_html(page.text)
    return page.title or title, text


_WARM = threading.Lock()
_warmed = False
# short, so that trafilatura also loads the fallback extractors it compares short results with
_WARM_PAGES = ("<html><head><title>warm-up</title></head><body><article><p>A short page that warms up"
               " the extractor.</p><p>Its second paragraph is short as well.</p></article></body></html>",
               "<html><head><title>warm-up</title></head><body><article><p>"
               + "A longer page that warms up the main path of the extractor. " * 12
               + "</p></article></body></html>")


def warm_up() -> None:
    """Run one tiny extraction, once per process, outside any time box.

    The first extraction imports trafilatura and builds its lazily loaded state (about
    1-3 s on two busy cores); charged to the first page's 2 s box, it made that page fail.
    """
    global _warmed
    with _WARM:
        if _warmed:
            return
        for html in _WARM_PAGES:
            try:
                _extract_sync(Page("http://warm-up.invalid/", "http://warm-up.invalid/", 200, "text/html",
                                   html, 0.0))
            except Exception:  # a broken extractor shows itself on the real page, with its error
                pass
        _warmed = True


def extract(page: Page, *, timeout: float) -> tuple[str, str]:
    """Return ``(title, text)`` of a fetched page within ``timeout`` seconds.

    Raises FetchError(kind="timeout", stage="extract") when the time box is
    exceeded and FetchError(kind="empty") when no text could be found.
    """
    warm_up()
    future = _POOL.submit(_extract_sync, page)
    try:
        title, text = future.result(timeout=timeout)
    except FutureTimeout:
        future.cancel()
        raise FetchError(
            f"extraction took longer than {timeout:g}s", kind="timeout", stage="extract", url=page.url
        )
    if not text:
        raise FetchError("no text found on the page", kind="empty", stage="extract", url=page.url)
    return title, text


def extract_local(page: Page, *, timeout: float) -> tuple[str, str]:
    """:func:`extract` for local files: the same time box, but a file that runs out of time
    is read again by the linear extractor instead of being lost (a local file has no
    search snippet to fall back on). May return empty text."""
    if page.content_type == "text/html" and over_budget(page.text):
        return _extract_sync(page)  # linear already: a time box would only read it twice
    warm_up()
    future = _POOL.submit(_extract_sync, page)
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        future.cancel()  # the thread runs on, bounded by the tree budgets above
        title, text = stream_text(page.text)
        return strip_controls(page.title or title), strip_controls(text)


# The shared worker pools (started and leased in .pools); kept here so that a page whose pool
# broke can drop it without this module importing .pools.
_PROCESS_POOLS: dict[int, ProcessPoolExecutor] = {}
_LEASES: dict[int, int] = {}  # id(pool) -> owners that will release it (see pools.lease_pool)
_PINNED: set[int] = set()  # pools handed out by pools.process_pool(): never shut down before exit
_POOLS_LOCK = threading.Lock()


def _drop_pool(pool: Executor) -> None:
    """Forget a broken pool (a worker died) so the next call starts a fresh one."""
    with _POOLS_LOCK:
        for key, value in list(_PROCESS_POOLS.items()):
            if value is pool:
                del _PROCESS_POOLS[key]
        _LEASES.pop(id(pool), None)
        _PINNED.discard(id(pool))
    pool.shutdown(wait=False, cancel_futures=True)


async def aextract(page: Page, *, timeout: float, pool: Executor | None = None) -> tuple[str, str]:
    """Async :func:`extract`: runs in ``pool`` (e.g. :func:`.pools.process_pool`), by default in this
    process's extraction threads, without blocking the event loop. A process pool that
    breaks (a worker killed) is replaced and the page extracted in a thread instead."""
    loop = asyncio.get_running_loop()
    if pool is None and not _warmed:
        await loop.run_in_executor(_POOL, warm_up)
    try:
        if pool is None:
            title, text = await _in_threads(page, timeout)
        else:
            title, text = await asyncio.wait_for(loop.run_in_executor(pool, _extract_sync, page), timeout)
    except (asyncio.TimeoutError, TimeoutError):
        raise FetchError(
            f"extraction took longer than {timeout:g}s", kind="timeout", stage="extract", url=page.url
        ) from None
    except BrokenProcessPool:
        _drop_pool(pool)  # type: ignore[arg-type]
        return await aextract(page, timeout=timeout)
    if not text:
        raise FetchError("no text found on the page", kind="empty", stage="extract", url=page.url)
    return title, text


async def _in_threads(page: Page, timeout: float) -> tuple[str, str]:
    """Extract in this process's threads; the time box starts when this page's turn comes."""
    loop = asyncio.get_running_loop()
    began: asyncio.Future[None] = loop.create_future()

    def mark() -> None:
        if not began.done():
            began.set_result(None)

    def started() -> None:  # runs in the extraction thread once it holds the lock
        loop.call_soon_threadsafe(mark)

    work = loop.run_in_executor(_POOL, _extract_sync, page, started)
    try:
        await asyncio.wait_for(asyncio.shield(began), timeout * QUEUE_BOXES)
        return await asyncio.wait_for(work, timeout)
    finally:
        work.cancel()  # still queued after a timeout: it never runs

