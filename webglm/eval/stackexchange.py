"""Stack Exchange ``Posts.xml`` dumps as long-answer evaluation data.

Each question (``PostTypeId=1``) becomes an :class:`~webglm.eval.datasets.Example` whose
question is the title (optionally followed by the body as plain text) and whose gold answers
are the accepted answer first, then the highest-scored answers: ROUGE-L is taken against the
best of them. Content is CC BY-SA: every example keeps its site, post URL and licence in
``meta`` so reports can attribute it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path

from ..errors import EvalError
from ..stackexchange import LICENCE, html_to_text, iter_rows, site_name
from .rows import BadRow as _BadRow
from .rows import Collector as _Collector
from .rows import Dataset, Example



def _plain(fragment: str) -> str:
    """A post body as gold text: one paragraph (or list item) per line, link targets and image marks left out."""
    return "\n".join(line for line in html_to_text(fragment, cues=False).split("\n") if line.strip())


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
    for n, attrs in iter_rows(path, error=EvalError):
        col.add(f"row {n} (Id={attrs.get('Id', '?')})", lambda a=attrs: _parse_row(a, questions, answers))
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
        text = _plain(body)
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
    site = site_name(p)
    for q in sorted(_read_posts(p, col).values(), key=lambda q: q.id):
        if q.closed and not include_closed:
            continue
        gold = _gold(q, top_n, min_score)
        if len(gold) < min_answers:
            continue
        body = _plain(q.body)
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
    site, skip = site_name(p), set(exclude)
    col = _Collector(p, skip_bad_rows=True)
    written = 0
    for q in sorted(_read_posts(p, col).values(), key=lambda q: q.id):
        if f"{site}:{q.id}" in skip:
            continue
        answers = [_plain(b) for _a, s, b in sorted(q.answers, key=lambda a: -a[1]) if s >= min_score]
        parts = [f"# {q.title}", "", _plain(q.body)] + [f"\n## Answer {i}\n\n{a}" for i, a in
                                                              enumerate(answers, 1) if a]
        parts.append(f"\nSource: https://{site}/q/{q.id} ({LICENCE})")
        (out / f"{q.id}.md").write_text("\n".join(parts) + "\n", encoding="utf-8")
        written += 1
    return written
