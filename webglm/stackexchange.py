"""Stack Exchange dumps: the one ``Posts.xml`` reader and the one post-HTML-to-text conversion.

Evaluation (:mod:`webglm.eval.stackexchange`), scorer pairs (:mod:`webglm.scorer.data`) and
retriever training (:mod:`webglm.contriever.data`) all read dumps through :func:`iter_rows`
(raw attributes, for a reader with its own row policy) or :func:`read_posts` (questions and
answers as :class:`Post`), and convert bodies with :func:`html_to_text`, so one post becomes
the same text as gold answer, preference pair and training passage. Content is CC BY-SA.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from .errors import InputError, WebGLMError

__all__ = ["LICENCE", "Post", "html_to_text", "iter_rows", "read_posts", "site_name"]

LICENCE = "CC BY-SA (Stack Exchange)"
_BLOCK = {"p", "div", "pre", "blockquote", "ul", "ol", "table", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "hr"}


class _TextExtractor(HTMLParser):
    """Post HTML -> plain text that keeps paragraphs, list items, line breaks and (optionally)
    the cues a reader sees besides the words: link targets and image placeholders."""

    def __init__(self, cues: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._cues = cues
        self._href: list[str] = []
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.parts.append("\n\n")
        if tag == "li":
            self.parts.append("\n- ")
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "pre":
            self._pre += 1
        elif tag == "a":
            self._href.append(dict(attrs).get("href") or "")
        elif tag == "img" and self._cues:
            self.parts.append(" [image] ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href:
            href = self._href.pop()
            if self._cues and href.startswith(("http://", "https://")):
                # the link target is kept: answers that cite sources are a cue people reward
                self.parts.append(f" ({href})")
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
        if tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data if self._pre else re.sub(r"\s+", " ", data))


def html_to_text(fragment: str, *, cues: bool = True) -> str:
    """Plain text of a post body: paragraphs separated by blank lines, list items as ``- item``,
    code blocks verbatim, entities decoded. ``cues=True`` keeps each link's target as
    `` (https://...)`` after its text and marks images ``[image]`` (the scorer learns from
    them); ``cues=False`` gives the words alone (gold answers, retrieval passages)."""
    parser = _TextExtractor(cues)
    parser.feed(fragment)
    parser.close()
    lines = [line.rstrip() for line in "".join(parser.parts).split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    # "<li><p>item</p></li>" would leave a bare dash above its text
    return re.sub(r"(?m)^- *\n+", "- ", text).strip()


def site_name(path: str | Path) -> str:
    """The site a dump file belongs to: ``beer`` for ``beer_Posts.xml``."""
    name = Path(path).name
    return name.split("_Posts")[0] if "_Posts" in name else Path(name).stem


def iter_rows(path: str | Path, *, error: type[WebGLMError] = InputError) -> Iterator[tuple[int, dict[str, str]]]:
    """``(row number, attributes)`` of every ``<row>`` of a ``Posts.xml`` file, streamed with
    constant memory. A missing file or malformed XML raises ``error`` with the line."""
    p = Path(path)
    if not p.is_file():
        raise error(f"Stack Exchange dump not found: {p}", url=str(p),
                    hint="pass a <site>_Posts.xml file or a folder of them")
    n = 0
    try:
        for _event, elem in ET.iterparse(p, events=("end",)):
            if elem.tag != "row":
                continue
            n += 1
            attrs = dict(elem.attrib)
            elem.clear()  # keep memory flat on big dumps
            yield n, attrs
    except ET.ParseError as exc:
        raise error(f"{p}:{exc.position[0]}: not a valid Posts.xml ({exc})", url=str(p),
                    hint="use an unmodified Stack Exchange dump named <site>_Posts.xml") from None


@dataclass(frozen=True, slots=True)
class Post:
    """One question or answer of a dump, body converted to text."""

    id: str
    kind: str  # "question" | "answer"
    parent: str  # answers: the question's id
    score: int
    title: str  # questions: entities decoded
    text: str
    created: str = ""  # CreationDate, ISO 8601 (sorts as text); "" when the dump lacks it
    accepted: str = ""  # questions: AcceptedAnswerId
    closed: bool = False  # questions: a ClosedDate is set


def _score(attrs: dict[str, str], path: Path, row: int) -> int:
    value = attrs.get("Score", "0") or "0"
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{path}: row {row} (Id={attrs.get('Id', '?')}): Score={value!r} is not an integer",
                         url=str(path), hint="use an unmodified Stack Exchange dump") from None


def read_posts(path: str | Path, *, cues: bool = True) -> Iterator[Post]:
    """Stream the questions (``PostTypeId`` 1) and answers (2) of a ``Posts.xml`` file; other
    post types (wiki, tag excerpts) are passed over. ``cues`` as in :func:`html_to_text`."""
    p = Path(path)
    for row, attrs in iter_rows(p):
        kind = {"1": "question", "2": "answer"}.get(attrs.get("PostTypeId", ""))
        if kind is None:
            continue
        yield Post(id=attrs.get("Id", ""), kind=kind, parent=attrs.get("ParentId", ""), score=_score(attrs, p, row),
                   title=html.unescape(attrs.get("Title", "")).strip(),
                   text=html_to_text(attrs.get("Body", ""), cues=cues),
                   created=attrs.get("CreationDate", ""), accepted=attrs.get("AcceptedAnswerId", ""),
                   closed="ClosedDate" in attrs)
