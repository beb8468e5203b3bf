"""Evaluation rows: the example and dataset types, the bad-row policy, JSONL reading and ids.

Every dataset format (:mod:`.datasets`, :mod:`.stackexchange`, :mod:`.nq_oracle`,
:mod:`.squad`) builds on these; none of them imports another format module.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import EvalError
from ..types import Failure, Reference
from .lines import not_utf8, utf8_lines

__all__ = ["AnswerKind", "BadRow", "Collector", "Dataset", "Example", "fail", "iter_jsonl", "question_id",
           "strings_field", "text_field", "unique_ids"]

AnswerKind = Literal["short", "long", "none"]


@dataclass(frozen=True, slots=True)
class Example:
    """One evaluation question. ``answers`` are gold answers (may be empty);
    ``references`` are given passages (WebGLM-QA) so no search is needed."""

    id: str
    question: str
    answers: tuple[str, ...] = ()
    references: tuple[Reference, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class Dataset:
    """Loaded examples plus what was skipped. ``kind`` says what the gold answers are:
    ``short`` (entity answers: substring metrics), ``long`` (ROUGE-L), ``none``."""

    name: str
    fmt: str
    kind: AnswerKind
    examples: tuple[Example, ...]
    skipped: tuple[Failure, ...] = ()
    source: str = ""

    def __len__(self) -> int:
        return len(self.examples)


class BadRow(ValueError):
    """A row that cannot become an Example (turned into EvalError or a Failure)."""


def fail(message: str) -> Example:
    raise BadRow(message)


def question_id(question: str) -> str:
    """Stable id for a question without one: a hash of its whitespace-normalised text."""
    norm = " ".join(question.split())
    return "q-" + hashlib.sha1(norm.encode("utf-8")).hexdigest()[:12]


def unique_ids(examples: Iterable[Example]) -> tuple[Example, ...]:
    """Suffix repeated ids (``-2``, ``-3``...) in file order, so ids stay stable and unique.

    A suffix never reuses an id that occurs anywhere in the file: ids ``a, a-2, a`` become
    ``a, a-2, a-3``, not ``a, a-2, a-2`` (which would overwrite a row)."""
    examples = list(examples)
    taken = {ex.id for ex in examples}
    seen: set[str] = set()
    next_n: dict[str, int] = {}
    out = []
    for ex in examples:
        if ex.id in seen:
            n = next_n.get(ex.id, 2)
            while f"{ex.id}-{n}" in taken:
                n += 1
            next_n[ex.id] = n + 1
            new_id = f"{ex.id}-{n}"
            taken.add(new_id)
            ex = Example(new_id, ex.question, ex.answers, ex.references, ex.meta)
        seen.add(ex.id)
        out.append(ex)
    return tuple(out)


def text_field(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRow(f"{what} must be a non-empty string, got {type(value).__name__}")
    return value.strip()


def strings_field(value: Any, what: str, *, required: bool = True) -> tuple[str, ...]:
    if value is None and not required:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise BadRow(f"{what} must be a list of strings")
    out = tuple(v.strip() for v in value if v.strip())
    if required and not out:
        raise BadRow(f"{what} is empty")
    return out


class Collector:
    """Turns parsed rows into examples, applying the bad-row policy."""

    def __init__(self, path: Path, skip_bad_rows: bool):
        self.path, self.skip_bad_rows = path, skip_bad_rows
        self.examples: list[Example] = []
        self.skipped: list[Failure] = []

    def add(self, where: str, build: Callable[..., Example | None]) -> None:
        try:
            ex = build()
        except BadRow as exc:
            if not self.skip_bad_rows:
                raise EvalError(f"malformed row at {self.path}:{where}: {exc}", url=str(self.path),
                                hint="fix the row, pick the right --format, or pass --skip-bad-rows "
                                "(skip_bad_rows=True in Python)") from None
            self.skipped.append(Failure(stage="eval", kind="bad_row", detail=f"{where}: {exc}", url=str(self.path)))
            return
        if ex is not None:
            self.examples.append(ex)

    def done(self, name: str, fmt: str, kind: AnswerKind) -> Dataset:
        return Dataset(name, fmt, kind, unique_ids(self.examples), tuple(self.skipped), str(self.path))


def iter_jsonl(path: Path, col: Collector) -> Iterator[tuple[str, Any]]:
    """Yield ``("line N", obj)``; undecodable lines go through the collector's policy."""
    for lineno, line in utf8_lines(path):
        if isinstance(line, UnicodeDecodeError):
            col.add(f"line {lineno}", lambda exc=line: fail(not_utf8(exc)))
            continue
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            col.add(f"line {lineno}", lambda msg=msg: fail(f"invalid JSON: {msg}"))
            continue
        if not isinstance(obj, Mapping):
            col.add(f"line {lineno}", lambda: fail("row is not a JSON object"))
            continue
        yield f"line {lineno}", obj
