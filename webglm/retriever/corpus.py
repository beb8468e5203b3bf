"""Reading a local corpus (Markdown, text, reStructuredText, HTML) into passages.

Markdown is split at headings so each passage carries its section heading in
its title; passage URLs are ``file:`` locations with the starting line
(``file:docs/guide.md#L42``), so an answer can point at the exact spot. Files
that cannot be read are counted and recorded as failures; only a missing path
or a corpus with nothing readable raises :class:`CorpusError`.
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
from .body import decode_body
from .chunk import dedup_passages, make_passages, split_spans
from .extract import extract_local

SUFFIXES = frozenset({".md", ".markdown", ".txt", ".rst", ".html", ".htm"})
MAX_FILE_BYTES = 20 * 1024 * 1024
EXTRACT_TIMEOUT = 2.0  # seconds per HTML file, as fetch.extract_timeout for web pages
NEAR_DUP_MAX_PASSAGES = 2000
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


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


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


def _passages_of(path: Path, shown: str, text: str, chunk: ChunkConfig) -> list[Passage]:
    base = "file:" + shown
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        page = Page(url=base, final_url=base, status=200, content_type="text/html", text=text, fetched_at=0.0)
        title, body = extract_local(page, timeout=EXTRACT_TIMEOUT)
        title = title or path.name
        return make_passages(body, split_spans(body, chunk), url=base, title=title, source="local")
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


def _read_text(path: Path) -> str:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise CorpusError(f"file larger than {MAX_FILE_BYTES} bytes", url=str(path))
    data = path.read_bytes()
    try:
        return strip_controls(decode_body(data, ""))  # before offsets are taken: they stay right
    except Exception as exc:  # binary or undecodable: skip the file, keep the corpus
        raise CorpusError(f"not a text file ({getattr(exc, 'kind', 'decode')})", url=str(path)) from None


def read_corpus(paths: Sequence[str | Path], chunk: ChunkConfig) -> CorpusDocs:
    """Read files under ``paths`` (recursively) into passages with ``source="local"``."""
    passages: list[Passage] = []
    failures: list[Failure] = []
    read = skipped = 0
    for given in paths:
        root = Path(given)
        if not root.exists():
            raise CorpusError(
                f"corpus path not found: {given}",
                url=str(given),
                hint="pass an existing file or directory of .md/.txt/.rst/.html files",
            )
        for path in _files(root):
            shown = path.as_posix() if path == root else (Path(given) / path.relative_to(root)).as_posix()
            try:
                text = _read_text(path)
                found = _passages_of(path, shown, text, chunk)
            except (OSError, CorpusError) as exc:
                skipped += 1
                kind = "unreadable" if isinstance(exc, OSError) else "skipped"
                failures.append(
                    Failure(stage="corpus", kind=kind, detail=str(exc)[:300], url="file:" + shown)
                )
                continue
            read += 1
            # the near-duplicate scan is quadratic: a huge file gets the exact check only
            near = len(found) <= NEAR_DUP_MAX_PASSAGES
            passages += dedup_passages(found, near=near) if chunk.dedup else found
    if chunk.dedup:  # across files only exact copies: a near-duplicate scan is quadratic
        passages = dedup_passages(passages, near=False)
    if not passages:
        raise CorpusError(
            "the corpus has no readable text",
            url=", ".join(map(str, paths)),
            hint="give files ending in .md, .markdown, .txt, .rst, .html or .htm with text in them",
        )
    return CorpusDocs(tuple(passages), tuple(failures), read, skipped)
