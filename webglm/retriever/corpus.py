"""Reading a local corpus (Markdown, text, reStructuredText, HTML, PDF) into passages.

Markdown is split at headings so each passage carries its section heading in
its title; passage URLs are ``file:`` locations with the starting line
(``file:docs/guide.md#L42``), so an answer can point at the exact spot. Files
that cannot be read are counted and recorded as failures; only a missing path
or a corpus with nothing readable raises :class:`CorpusError`. Which files are
read, and which links are refused, is decided by :mod:`.walk`; how bytes become
text, by :mod:`.localtext`.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..config import ChunkConfig
from ..errors import CorpusError
from ..sanitize import strip_controls
from ..types import Failure, Page, Passage
from .chunk import dedup_passages, make_passages, split_spans
from .extract import extract_local
from .localtext import MAX_FILE_BYTES, decode_file, flat_html, pdf_text, too_deep
from .walk import walk_corpus

SUFFIXES = frozenset({".md", ".markdown", ".txt", ".rst", ".html", ".htm", ".pdf"})
EXTRACT_TIMEOUT = 2.0  # seconds per HTML file, as fetch.extract_timeout for web pages
NEAR_DUP_MAX_PASSAGES = 2000
__all__ = ["MAX_FILE_BYTES", "SUFFIXES", "CorpusDocs", "read_corpus"]
_MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+]){3,}\s*$")
_FENCE = re.compile(r"^(```|~~~)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class CorpusDocs:
    """Passages read from local files, with per-file failures and counts."""

    passages: tuple[Passage, ...]
    failures: tuple[Failure, ...]
    files_read: int
    files_skipped: int


def _md_sections(text: str) -> list[tuple[int, int, str]]:
    """(start, end, heading) sections of Markdown, ignoring '#' lines inside code fences."""
    fenced, inside, pos = [], False, 0
    for match in _FENCE.finditer(text):
        if not inside:
            pos = match.start()
        else:
            fenced.append((pos, match.end()))
        inside = not inside
    heads = [m for m in _MD_HEADING.finditer(text) if not any(a <= m.start() < b for a, b in fenced)]
    sections, start, heading = [], 0, ""
    for m in heads:
        sections.append((start, m.start(), heading))
        start, heading = m.start(), m.group(2).strip()
    sections.append((start, len(text), heading))
    return [s for s in sections if text[s[0] : s[1]].strip()]


def _rst_title(text: str) -> str:
    lines = text.splitlines()
    for i in range(len(lines) - 1):
        if (
            lines[i].strip()
            and _RST_UNDERLINE.match(lines[i + 1])
            and len(lines[i + 1].strip()) >= len(lines[i].strip())
        ):
            return lines[i].strip()
    return ""


def _line_urls(base: str, text: str, passages: list[Passage]) -> list[Passage]:
    """Point each passage at its starting line: ``file:path#L<n>``."""
    breaks = [i for i, ch in enumerate(text) if ch == "\n"]
    out = []
    for p in passages:
        line = bisect.bisect_left(breaks, p.start) + 1
        url = f"{base}#L{line}"
        out.append(dataclasses.replace(p, url=url, id=p.id))
    return out


def _html_passages(path: Path, base: str, text: str, chunk: ChunkConfig) -> list[Passage]:
    if too_deep(text):
        # HTML parsers stop at a fixed nesting depth (libxml2: 255) and drop what lies below;
        # such a file is read as flat text so that none of it is lost.
        title, body = flat_html(text)
    else:
        page = Page(url=base, final_url=base, status=200, content_type="text/html", text=text, fetched_at=0.0)
        title, body = extract_local(page, timeout=EXTRACT_TIMEOUT)
    return make_passages(body, split_spans(body, chunk), url=base, title=title or path.name, source="local")


def _passages_of(path: Path, shown: str, text: str, chunk: ChunkConfig) -> list[Passage]:
    base = "file:" + shown
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        return _html_passages(path, base, text, chunk)
    if suffix == ".pdf":
        title, body = (strip_controls(part) for part in pdf_text(text, base))
        return make_passages(body, split_spans(body, chunk), url=base, title=title or path.name, source="local")
    if suffix in (".md", ".markdown"):
        sections = _md_sections(text)
        doc_title = next((h for _s, _e, h in sections if h), "") or path.name
        out: list[Passage] = []
        for start, end, heading in sections:
            title = doc_title if not heading or heading == doc_title else f"{doc_title} - {heading}"
            part = text[start:end]
            out += make_passages(
                part, split_spans(part, chunk), url=base, title=title, source="local", offset=start
            )
        return _line_urls(base, text, out)
    title = (_rst_title(text) if suffix == ".rst" else "") or path.name
    return _line_urls(
        base, text, make_passages(text, split_spans(text, chunk), url=base, title=title, source="local")
    )


def _read_text(path: Path, size: int) -> str:
    if size > MAX_FILE_BYTES:
        raise CorpusError(f"file larger than {MAX_FILE_BYTES} bytes", url=str(path))
    with path.open("rb") as fh:  # read at most the cap: the file may grow after the walk
        data = fh.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise CorpusError(f"file larger than {MAX_FILE_BYTES} bytes", url=str(path))
    if path.suffix.lower() == ".pdf":
        return decode_file(data, pdf=True)  # bytes carried as text: its controls are stripped once extracted
    # controls go before offsets are taken, so that they stay right
    return strip_controls(decode_file(data))


def read_corpus(paths: Sequence[str | Path], chunk: ChunkConfig, *, follow_symlinks: bool = False) -> CorpusDocs:
    """Read files under ``paths`` (recursively) into passages with ``source="local"``.

    Links that lead out of a given folder are skipped (and reported) unless
    ``follow_symlinks`` is true.
    """
    passages: list[Passage] = []
    failures: list[Failure] = []
    read = skipped = 0
    for given in paths:
        root = Path(given)
        if not str(given).strip() or not root.exists():
            raise CorpusError(
                f"corpus path not found: {str(given)!r}",
                url=str(given),
                hint="pass an existing file or directory of .md/.txt/.rst/.html/.pdf files",
            )
        walk = walk_corpus(root, SUFFIXES, follow_symlinks=follow_symlinks)
        for skip in walk.skipped:
            skipped += 1
            failures.append(Failure(stage="corpus", kind=skip.kind, detail=skip.reason[:300],
                                    url="file:" + skip.path.as_posix()))
        for found in walk.files:
            shown = found.path.as_posix()
            try:
                text = _read_text(found.path, found.st.st_size)
                got = _passages_of(found.path, shown, text, chunk)
            except (OSError, CorpusError) as exc:
                skipped += 1
                kind = "unreadable" if isinstance(exc, OSError) else "skipped"
                failures.append(
                    Failure(stage="corpus", kind=kind, detail=str(exc)[:300], url="file:" + shown)
                )
                continue
            read += 1
            # the near-duplicate scan is quadratic: a huge file gets the exact check only
            near = len(got) <= NEAR_DUP_MAX_PASSAGES
            passages += dedup_passages(got, near=near) if chunk.dedup else got
    if chunk.dedup:  # across files only exact copies: a near-duplicate scan is quadratic
        passages = dedup_passages(passages, near=False)
    if not passages:
        raise CorpusError(
            "the corpus has no readable text",
            url=", ".join(map(str, paths)),
            hint="give files ending in .md, .markdown, .txt, .rst, .html, .htm or .pdf with text in them",
        )
    return CorpusDocs(tuple(passages), tuple(failures), read, skipped)
