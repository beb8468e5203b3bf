"""Stack Exchange ``Posts.xml`` dumps as long-answer evaluation data.

Each question (``PostTypeId=1``) becomes an :class:`~webglm.eval.datasets.Example` whose
question is the title (optionally followed by the body as plain text) and whose gold answers
are the accepted answer first, then the highest-scored answers: ROUGE-L is taken against the
best of them. Content is CC BY-SA: every example keeps its site, post URL and licence in
``meta`` so reports can attribute it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

from ..errors import EvalError
from .datasets import Dataset, Example, _BadRow, _Collector

LICENCE = "CC BY-SA (Stack Exchange)"
_BLOCK = {"p", "br", "li", "pre", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "div", "hr"}


class _TextOnly(HTMLParser):
    """Collects the text of an HTML fragment; block elements end a line."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        self.parts.append(data)


def html_to_text(fragment: str) -> str:
    """Plain text of a post body: tags dropped, one paragraph per line, spaces collapsed."""
    parser = _TextOnly()
    parser.feed(fragment)
    parser.close()
    lines = (re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)


@dataclass(slots=True)
class _Question:
    id: int
    title: str
    body: str
    accepted: int | None
    score: int
    closed: bool
    answers: list[tuple[int, int, str]] = field(default_factory=list)  # (id, score, body html)


def _int(attrs: dict[str, str], key: str, default: int | None = None) -> int | None:
    value = attrs.get(key)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise _BadRow(f"{key}={value!r} is not an integer") from None


def _site_of(path: Path) -> str:
    name = path.name
    return name[: -len("_Posts.xml")] if name.endswith("_Posts.xml") else "stackexchange"


def _parse_row(attrs: dict[str, str], questions: dict[int, _Question], orphans: list) -> None:
    post_id = _int(attrs, "Id")
    kind = _int(attrs, "PostTypeId")
    if post_id is None or kind is None:
        raise _BadRow("row has no Id or PostTypeId")
    if kind == 1:
        title = unescape(attrs.get("Title", "")).strip()
        if not title:
            raise _BadRow(f"question {post_id} has no Title")
        questions[post_id] = _Question(post_id, title, attrs.get("Body", ""), _int(attrs, "AcceptedAnswerId"),
                                       _int(attrs, "Score", 0) or 0, "ClosedDate" in attrs)
    elif kind == 2:
        parent = _int(attrs, "ParentId")
        if parent is None:
            raise _BadRow(f"answer {post_id} has no ParentId")
        orphans.append((parent, post_id, _int(attrs, "Score", 0) or 0, attrs.get("Body", "")))


def _read_posts(path: Path, col: _Collector) -> dict[int, _Question]:
    questions: dict[int, _Question] = {}
    answers: list[tuple[int, int, int, str]] = []
    n = 0
    try:
        for _event, elem in ET.iterparse(path, events=("end",)):
            if elem.tag != "row":
                continue
            n += 1
            attrs = dict(elem.attrib)
            elem.clear()  # keep memory flat on big dumps
            col.add(f"row {n} (Id={attrs.get('Id', '?')})", lambda a=attrs: _parse_row(a, questions, answers))
    except ET.ParseError as exc:
        raise EvalError(f"{path}:{exc.position[0]}: not a valid Posts.xml ({exc})", url=str(path),
                        hint="pass a Stack Exchange dump file named <site>_Posts.xml") from None
    for parent, aid, score, body in answers:
        if parent in questions:
            questions[parent].answers.append((aid, score, body))
    return questions


def _gold(q: _Question, top_n: int, min_score: int) -> tuple[str, ...]:
    """Accepted answer first, then answers by score (ties by id, for stable output)."""
    ranked = sorted(q.answers, key=lambda a: (a[0] != q.accepted, -a[1], a[0]))
    texts = []
    for aid, score, body in ranked:
        if aid != q.accepted and score < min_score:
            continue
        text = html_to_text(body)
        if text:
            texts.append(text)
        if len(texts) >= top_n:
            break
    return tuple(texts)


def load_stackexchange(path: str | Path, *, skip_bad_rows: bool = False, top_n: int = 3, min_score: int = 1,
                       min_answers: int = 1, with_body: bool = False, include_closed: bool = False) -> Dataset:
    """Load questions from a Stack Exchange ``Posts.xml``.

    ``top_n`` gold answers per question (accepted first, then by score, those below
    ``min_score`` dropped unless accepted); questions with fewer than ``min_answers`` gold
    answers are left out. ``with_body`` appends the question body to the title.
    """
    p = Path(path)
    col = _Collector(p, skip_bad_rows)
    site = _site_of(p)
    for q in sorted(_read_posts(p, col).values(), key=lambda q: q.id):
        if q.closed and not include_closed:
            continue
        gold = _gold(q, top_n, min_score)
        if len(gold) < min_answers:
            continue
        body = html_to_text(q.body)
        text = f"{q.title}\n{body}" if with_body and body else q.title
        meta = {"site": site, "url": f"https://{site}/q/{q.id}", "licence": LICENCE, "body": body,
                "score": q.score}
        col.examples.append(Example(f"{site}:{q.id}", text, gold, (), meta))
    return col.done(site, "stackexchange", "long")


def export_corpus(path: str | Path, out_dir: str | Path, *, exclude: Iterable[str] = (),
                  min_score: int = 1) -> int:
    """Write each question thread of a dump (title, body, answers scoring at least ``min_score``)
    as one Markdown file under ``out_dir``, for corpus-mode evaluation; returns the file count.

    ``exclude`` takes example ids (``<site>:<id>``): those threads are left out so the questions
    being evaluated cannot find their own gold answers in the corpus.
    """
    p, out = Path(path), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    site, skip = _site_of(p), set(exclude)
    col = _Collector(p, skip_bad_rows=True)
    written = 0
    for q in sorted(_read_posts(p, col).values(), key=lambda q: q.id):
        if f"{site}:{q.id}" in skip:
            continue
        answers = [html_to_text(b) for _a, s, b in sorted(q.answers, key=lambda a: -a[1]) if s >= min_score]
        parts = [f"# {q.title}", "", html_to_text(q.body)] + [f"\n## Answer {i}\n\n{a}" for i, a in
                                                              enumerate(answers, 1) if a]
        parts.append(f"\nSource: https://{site}/q/{q.id} ({LICENCE})")
        (out / f"{q.id}.md").write_text("\n".join(parts) + "\n", encoding="utf-8")
        written += 1
    return written
