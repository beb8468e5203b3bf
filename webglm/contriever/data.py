"""Retriever training/evaluation data: WebGLM-QA jsonl and Stack Exchange ``Posts.xml`` dumps.

* WebGLM-QA rows ``{"question", "answer", "references"}``: references the answer
  cites as ``[n]`` are positives, the others negatives; each reference is also
  labelled with its ROUGE-1 precision against the answer (WebGLM's regression target).
* Stack Exchange: a question's title is the query, its answers are the positives.
  Posts are CC BY-SA; keep the site attribution (``StackExchangeSite.attribution``).

Malformed rows become :class:`webglm.types.Failure` records; loading goes on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..stackexchange import read_posts, site_name
from ..text import find_citations, rouge1_precision
from ..types import Failure



@dataclass(frozen=True, slots=True)
class RetrievalExample:
    """One query with its positive and negative passages. ``labels`` (optional) are
    graded relevances for ``positives + negatives`` in that order."""

    query: str
    positives: tuple[str, ...]
    negatives: tuple[str, ...] = ()
    labels: tuple[float, ...] = ()
    qid: str = ""


@dataclass(frozen=True, slots=True)
class Answer:
    id: str
    parent: str
    score: int
    text: str


@dataclass(frozen=True, slots=True)
class StackExchangeSite:
    """Questions (id -> title, body) and answers of one site dump."""

    name: str
    questions: dict[str, tuple[str, str]]
    answers: tuple[Answer, ...]
    failures: tuple[Failure, ...] = ()

    @property
    def attribution(self) -> str:
        return f"Content from {self.name} (Stack Exchange), licensed CC BY-SA"


@dataclass(frozen=True, slots=True)
class Dataset:
    examples: tuple[RetrievalExample, ...]
    failures: tuple[Failure, ...] = field(default_factory=tuple)


def _one_line(text: str) -> str:
    """A passage is one line: the paragraphs of a post body joined by spaces."""
    return " ".join(text.split())


def in_holdout(qid: str, fraction: float) -> bool:
    """Deterministic split by a hash of the question id (stable across runs and machines)."""
    if fraction <= 0:
        return False
    bucket = int.from_bytes(hashlib.blake2b(qid.encode(), digest_size=4).digest(), "little") % 10_000
    return bucket < fraction * 10_000


def load_stackexchange(path: str | Path) -> StackExchangeSite:
    """Parse a ``Posts.xml`` dump (questions: PostTypeId 1, answers: PostTypeId 2)."""
    p = Path(path)
    questions: dict[str, tuple[str, str]] = {}
    answers: list[Answer] = []
    failures: list[Failure] = []
    for post in read_posts(p, cues=False):
        text = _one_line(post.text)
        if post.kind == "question" and post.title:
            questions[post.id] = (post.title, text)
        elif post.kind == "answer":
            if post.parent and text:
                answers.append(Answer(post.id, post.parent, post.score, text))
            else:
                failures.append(Failure("train", "bad-row", f"answer {post.id} has no parent or body", str(p)))
    orphans = [x for x in answers if x.parent not in questions]
    failures += [Failure("train", "orphan", f"answer {x.id} has no question {x.parent}", str(p)) for x in orphans]
    kept = tuple(x for x in answers if x.parent in questions)
    return StackExchangeSite(site_name(p), questions, kept, tuple(failures))


def stackexchange_examples(site: StackExchangeSite, *, holdout: float = 0.0, split: str = "train",
                           min_answers: int = 1) -> list[RetrievalExample]:
    """One example per question with answers: title -> its answers. ``split`` picks the
    ``train`` or ``heldout`` side of :func:`in_holdout`; ``all`` keeps every question."""
    by_parent: dict[str, list[Answer]] = {}
    for ans in site.answers:
        by_parent.setdefault(ans.parent, []).append(ans)
    out = []
    for qid, (title, _body) in site.questions.items():
        group = by_parent.get(qid, [])
        if len(group) < min_answers:
            continue
        if split != "all" and in_holdout(qid, holdout) != (split == "heldout"):
            continue
        group.sort(key=lambda x: -x.score)
        out.append(RetrievalExample(title, tuple(x.text for x in group), (),
                                    tuple(float(x.score) for x in group), qid))
    return out


def load_webglm_qa(path: str | Path) -> Dataset:
    """WebGLM-QA jsonl: cited references are positives, uncited ones negatives; labels are
    ROUGE-1 precision of each reference against the answer."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"WebGLM-QA file not found: {p}", url=str(p), hint="pass a .jsonl file")
    examples, failures = [], []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            question, answer, refs = row["question"], row["answer"], list(row["references"])
            if not (isinstance(question, str) and isinstance(answer, str) and refs):
                raise ValueError("question/answer must be text and references non-empty")
        except (ValueError, KeyError, TypeError) as exc:
            failures.append(Failure("train", "bad-row", f"line {n}: {exc}", str(p)))
            continue
        cited = {n for n in find_citations(answer) if 1 <= n <= len(refs)}
        pos = tuple(refs[i - 1] for i in sorted(cited))
        neg = tuple(r for i, r in enumerate(refs, 1) if i not in cited)
        labels = tuple(rouge1_precision(r, answer) for r in pos + neg)
        examples.append(RetrievalExample(question, pos, neg, labels, str(row.get("id", n))))
    return Dataset(tuple(examples), tuple(failures))


def load_examples(path: str | Path, *, holdout: float = 0.0, split: str = "train") -> Dataset:
    """Pick the loader by file type: ``*.xml`` Stack Exchange dump, else WebGLM-QA jsonl."""
    p = Path(path)
    if p.suffix.lower() == ".xml":
        site = load_stackexchange(p)
        return Dataset(tuple(stackexchange_examples(site, holdout=holdout, split=split)), site.failures)
    data = load_webglm_qa(p)
    if split == "all" or holdout <= 0:
        return data
    keep = tuple(e for e in data.examples if in_holdout(e.qid, holdout) == (split == "heldout"))
    return Dataset(keep, data.failures)
