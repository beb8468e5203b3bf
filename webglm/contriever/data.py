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
import html
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..types import Failure
from .lexical import tokenize

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_CITE = re.compile(r"\[(\d{1,3})\]")


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


def html_to_text(body: str) -> str:
    """Plain text of a post body (tags removed, entities decoded, whitespace collapsed)."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", body))).strip()


def rouge1_precision(reference: str, answer: str) -> float:
    """Share of the reference's content words that appear in the answer (stopwords removed)."""
    ref = tokenize(reference)
    if not ref:
        return 0.0
    words = set(tokenize(answer))
    return sum(1 for w in ref if w in words) / len(ref)


def in_holdout(qid: str, fraction: float) -> bool:
    """Deterministic split by a hash of the question id (stable across runs and machines)."""
    if fraction <= 0:
        return False
    bucket = int.from_bytes(hashlib.blake2b(qid.encode(), digest_size=4).digest(), "little") % 10_000
    return bucket < fraction * 10_000


def load_stackexchange(path: str | Path) -> StackExchangeSite:
    """Parse a ``Posts.xml`` dump (questions: PostTypeId 1, answers: PostTypeId 2)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"Stack Exchange dump not found: {p}", url=str(p), hint="pass a <site>_Posts.xml file")
    questions: dict[str, tuple[str, str]] = {}
    answers: list[Answer] = []
    failures: list[Failure] = []
    try:
        for _, row in ET.iterparse(str(p), events=("end",)):
            if row.tag != "row":
                continue
            a = row.attrib
            kind, pid = a.get("PostTypeId"), a.get("Id", "")
            if kind == "1" and a.get("Title"):
                questions[pid] = (html.unescape(a["Title"]), html_to_text(a.get("Body", "")))
            elif kind == "2":
                text = html_to_text(a.get("Body", ""))
                if a.get("ParentId") and text:
                    answers.append(Answer(pid, a["ParentId"], int(a.get("Score", "0") or 0), text))
                else:
                    failures.append(Failure("train", "bad-row", f"answer {pid} has no parent or body", str(p)))
            row.clear()
    except ET.ParseError as exc:
        raise InputError(f"{p} is not a valid Posts.xml dump: {exc}", url=str(p)) from exc
    orphans = [x for x in answers if x.parent not in questions]
    failures += [Failure("train", "orphan", f"answer {x.id} has no question {x.parent}", str(p)) for x in orphans]
    kept = tuple(x for x in answers if x.parent in questions)
    name = p.name.split("_Posts")[0]
    return StackExchangeSite(name, questions, kept, tuple(failures))


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
        cited = {int(m) for m in _CITE.findall(answer) if 1 <= int(m) <= len(refs)}
        pos = tuple(refs[i - 1] for i in sorted(cited))
        neg = tuple(r for i, r in enumerate(refs, 1) if i not in cited)
        labels = tuple(rouge1_precision(r, _CITE.sub(" ", answer)) for r in pos + neg)
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
