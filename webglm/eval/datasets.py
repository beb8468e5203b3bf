"""Evaluation datasets: one frozen :class:`Example` per question, loaded from local files.

Formats (``fmt=``): ``nq-open`` (jsonl ``question`` + ``answer`` list, also the WebGLM
400-question subsets), ``webquestions`` (json array of ``qText``/``answers``), ``webglm-qa``
(``question``, cited ``answer``, ``references`` strings), ``webgpt`` (WebGPT comparisons),
``eli5`` (one question per line, or jsonl with ``title``/``selftext``/``answers``),
``stackexchange`` (a ``Posts.xml`` dump), ``nq-oracle`` (NQ-open with gold passages in ``ctxs``,
``.jsonl`` or ``.jsonl.gz``: :mod:`webglm.eval.nq_oracle`), ``squad`` (SQuAD-format JSON such as CMRC
2018, answered from a corpus of all its paragraphs, see :mod:`webglm.eval.squad`), ``jsonl`` (generic,
field names configurable) and
``hf`` (a Hugging Face ``datasets`` folder saved with ``save_to_disk``, only if ``datasets``
is installed; nothing is ever downloaded). ``auto`` picks one from the name and first row.

Malformed rows raise :class:`~webglm.errors.EvalError` naming the file and line, unless
``skip_bad_rows=True``: then each bad row becomes a :class:`~webglm.types.Failure` in
:attr:`Dataset.skipped` and loading goes on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
import typing
from typing import Any

from ..errors import EvalError
from ..text import find_citations
from ..types import Passage, Reference
from .lines import not_utf8, read_utf8, utf8_lines
from .rows import AnswerKind, Dataset, Example, iter_jsonl, question_id
from .rows import BadRow as _BadRow
from .rows import Collector as _Collector
from .rows import fail as _fail
from .rows import strings_field as _strings
from .rows import text_field as _text

FORMATS = ("auto", "nq-open", "nq-oracle", "webquestions", "webglm-qa", "webgpt", "eli5", "stackexchange", "squad",
           "jsonl",
           "hf")


@dataclass(frozen=True, slots=True)
class Fields:
    """Field names for the generic jsonl loader. Dotted names reach into objects
    (``question.full_text``)."""

    question: str = "question"
    answers: str = "answers"
    id: str = "id"
    references: str = "references"
    kind: AnswerKind = "short"

    def __post_init__(self) -> None:
        if self.kind not in typing.get_args(AnswerKind):  # names come from the command line too
            raise EvalError(f"unknown answer kind {self.kind!r}", hint="use short, long or none")


# --- ids ---------------------------------------------------------------------


# --- small helpers -----------------------------------------------------------


def _get(row: Mapping[str, Any], dotted: str) -> Any:
    cur: Any = row
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return cur


def make_references(texts: Sequence[str], ex_id: str, titles: Sequence[str] = ()) -> tuple[Reference, ...]:
    """Given reference strings become 1-based References (as cited ``[n]`` in gold answers)."""
    refs = []
    for i, text in enumerate(texts, start=1):
        title = titles[i - 1] if i - 1 < len(titles) else ""
        passage = Passage(id=f"{ex_id}#ref{i}", text=text, url="", title=title, end=len(text), source="dataset")
        refs.append(Reference(index=i, passage=passage, score=0.0))
    return tuple(refs)


# --- row builders ------------------------------------------------------------


def _nq_row(row: Mapping[str, Any]) -> Example:
    q = _text(row.get("question"), "question")
    answers = _strings(row.get("answer", row.get("answers")), "answer")
    rid = row.get("id")
    return Example(str(rid) if rid is not None else question_id(q), q, answers)


def _webq_row(row: Mapping[str, Any]) -> Example:
    q = _text(row.get("qText", row.get("question")), "qText")
    answers = _strings(row.get("answers", row.get("answer")), "answers")
    rid = row.get("qId", row.get("id"))
    return Example(str(rid) if rid is not None else question_id(q), q, answers)




def _webglm_qa_row(row: Mapping[str, Any]) -> Example:
    q = _text(row.get("question"), "question")
    answer = _text(row.get("answer"), "answer")
    refs = _strings(row.get("references"), "references")
    rid = str(row["id"]) if row.get("id") is not None else question_id(q)
    cited = sorted(set(find_citations(answer)))
    if any(n < 1 or n > len(refs) for n in cited):
        raise _BadRow(f"answer cites {cited} but there are {len(refs)} references")
    return Example(rid, q, (answer,), make_references(refs, rid), {"gold_citations": cited})


def _webgpt_row(row: Mapping[str, Any]) -> Example | None:
    q = _text(_get(row, "question.full_text") or row.get("question"), "question.full_text")
    a0, a1 = row.get("answer_0"), row.get("answer_1")
    s0, s1 = row.get("score_0"), row.get("score_1")
    if not isinstance(a0, str) or not isinstance(a1, str):
        raise _BadRow("answer_0/answer_1 must be strings")
    if not isinstance(s0, (int, float)) or not isinstance(s1, (int, float)):
        raise _BadRow("score_0/score_1 must be numbers")
    preferred = a0 if s0 > s1 else a1 if s1 > s0 else None
    gold = (preferred,) if preferred and preferred.strip() else tuple(a for a in (a0, a1) if a.strip())
    rid = _get(row, "question.id")
    meta = {"answer_0": a0, "answer_1": a1, "score_0": float(s0), "score_1": float(s1),
            "dataset": _get(row, "question.dataset") or ""}
    return Example(str(rid) if rid else question_id(q), q, gold, (), meta)


def _eli5_row(row: Mapping[str, Any]) -> Example:
    q = _text(row.get("question") or row.get("title"), "question/title")
    body = row.get("selftext") or ""
    answers = _get(row, "answers.text") if isinstance(row.get("answers"), Mapping) else row.get("answers")
    gold = _strings(answers, "answers", required=False)
    rid = row.get("q_id", row.get("id"))
    meta = {"body": body} if isinstance(body, str) and body.strip() else {}
    return Example(str(rid) if rid is not None else question_id(q), q, gold, (), meta)


def _generic_row(row: Mapping[str, Any], f: Fields) -> Example:
    q = _text(_get(row, f.question), f.question)
    gold = _strings(_get(row, f.answers), f.answers, required=False)
    rid = _get(row, f.id)
    rid = str(rid) if rid is not None else question_id(q)
    ref_texts = _strings(_get(row, f.references), f.references, required=False)
    return Example(rid, q, gold, make_references(ref_texts, rid) if ref_texts else ())


# --- loaders -----------------------------------------------------------------


def _load_jsonl_with(path: Path, fmt: str, kind: AnswerKind, build: Callable[[Mapping], Example | None],
                     skip_bad_rows: bool) -> Dataset:
    col = _Collector(path, skip_bad_rows)
    for where, row in iter_jsonl(path, col):
        col.add(where, lambda row=row: build(row))
    return col.done(path.stem, fmt, kind)


def _load_webquestions(path: Path, skip_bad_rows: bool) -> Dataset:
    try:
        rows = json.loads(read_utf8(path))
    except json.JSONDecodeError as exc:
        raise EvalError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})", url=str(path)) from None
    except RecursionError:
        raise EvalError(f"{path}: invalid JSON (nested too deeply)", url=str(path)) from None
    if not isinstance(rows, list):
        raise EvalError(f"{path}: expected a JSON array of questions", url=str(path))
    col = _Collector(path, skip_bad_rows)
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            col.add(f"item {i}", lambda: _fail("item is not an object"))
            continue
        col.add(f"item {i}", lambda row=row: _webq_row(row))
    return col.done(path.stem, "webquestions", "short")


def _load_question_lines(path: Path, skip_bad_rows: bool = False) -> Dataset:
    col = _Collector(path, skip_bad_rows)
    for lineno, line in utf8_lines(path):
        if isinstance(line, UnicodeDecodeError):
            col.add(f"line {lineno}", lambda exc=line: _fail(not_utf8(exc)))
            continue
        q = line.strip()
        if q and not q.startswith("#"):
            col.add(f"line {lineno}", lambda q=q: Example(question_id(q), q))
    return col.done(path.stem, "eli5", "none")


def _load_eli5(path: Path, skip_bad_rows: bool) -> Dataset:
    if path.suffix in (".txt", ".lst", ""):
        return _load_question_lines(path, skip_bad_rows)
    ds = _load_jsonl_with(path, "eli5", "long", _eli5_row, skip_bad_rows)
    kind: AnswerKind = "long" if any(ex.answers for ex in ds.examples) else "none"
    return Dataset(ds.name, ds.fmt, kind, ds.examples, ds.skipped, ds.source)


def _load_hf(path: Path, fields: Fields, skip_bad_rows: bool, split: str) -> Dataset:
    try:
        import datasets as hf
    except ImportError:
        raise EvalError("the Hugging Face `datasets` package is not installed",
                        hint="pip install datasets, or export the data to jsonl") from None
    if not path.is_dir():
        raise EvalError(f"{path} is not a folder saved with Dataset.save_to_disk", url=str(path),
                        hint="only local datasets are read; nothing is downloaded")
    try:
        data = hf.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise EvalError(f"{path} is not a saved Hugging Face dataset: {exc}", url=str(path)) from None
    if isinstance(data, hf.DatasetDict):
        data = data[split]
    col = _Collector(path, skip_bad_rows)
    for i, row in enumerate(data):
        col.add(f"row {i}", lambda row=row: _generic_row(row, fields))
    return col.done(path.name, "hf", fields.kind)


def detect_format(path: Path) -> str:
    """Guess a format from the file name and its first row."""
    name = path.name.lower()
    if path.is_dir():
        return "hf"
    if name.endswith("posts.xml") or path.suffix == ".xml":
        return "stackexchange"
    if path.suffix == ".txt":
        return "eli5"
    if path.suffix == ".json":
        from .squad import looks_like_squad

        with path.open("rb") as fh:  # a sniff: undecodable bytes are judged by the loader
            head = fh.read(4096).decode("utf-8", "replace").lstrip("\ufeff")
        return "squad" if looks_like_squad(head) else "webquestions"
    if path.suffix == ".gz":
        return "nq-oracle"
    first = next((line for _n, line in utf8_lines(path) if not isinstance(line, str) or line.strip()), "")
    if isinstance(first, UnicodeDecodeError):
        raise EvalError(f"cannot detect the format of {path}: its first row is {not_utf8(first)}",
                        url=str(path), hint=f"or pass --format, one of {', '.join(FORMATS[1:])}") from None
    try:
        row = json.loads(first)
    except (json.JSONDecodeError, RecursionError):
        raise EvalError(f"cannot detect the format of {path}: first line is not JSON", url=str(path),
                        hint=f"pass fmt= one of {', '.join(FORMATS[1:])}") from None
    keys = set(row) if isinstance(row, Mapping) else set()
    if {"answer_0", "answer_1"} <= keys:
        return "webgpt"
    if "ctxs" in keys and "question" in keys:
        return "nq-oracle"
    if "references" in keys and "answer" in keys:
        return "webglm-qa"
    if "question" in keys and "answer" in keys:
        return "nq-open"
    if "qText" in keys:
        return "webquestions"
    if "title" in keys or ("question" in keys and "answers" in keys):
        return "eli5"
    raise EvalError(f"cannot detect the format of {path} (keys: {sorted(keys)})", url=str(path),
                    hint="pass fmt='jsonl' with field names, or another format")


def load_dataset(path: str | Path, fmt: str = "auto", *, fields: Fields | None = None,
                 skip_bad_rows: bool = False, limit: int | None = None, split: str = "test",
                 offset: int = 0, **se_options: Any) -> Dataset:
    """Load an evaluation dataset from a local file. ``offset`` skips the first examples and
    ``limit`` keeps the next N (a fixed tuning part and a held-out part of one file).
    ``se_options`` go to :func:`webglm.eval.stackexchange.load_stackexchange` (or, for
    ``squad``, ``sample``/``seed`` to :func:`webglm.eval.squad.load_squad`)."""
    p = Path(path)
    if not p.exists():
        raise EvalError(f"dataset not found: {p}", url=str(p), hint="pass an existing local file")
    if fmt not in FORMATS:
        raise EvalError(f"unknown dataset format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    fmt = detect_format(p) if fmt == "auto" else fmt
    if se_options and fmt not in ("stackexchange", "squad"):
        raise EvalError(f"options {sorted(se_options)} do not apply to the {fmt} format",
                        hint="--sample is for squad; --se-* options are for stackexchange")
    if fmt == "nq-open":
        ds = _load_jsonl_with(p, fmt, "short", _nq_row, skip_bad_rows)
    elif fmt == "nq-oracle":
        from .nq_oracle import load_nq_oracle

        ds = load_nq_oracle(p, skip_bad_rows=skip_bad_rows)
    elif fmt == "webquestions":
        ds = _load_webquestions(p, skip_bad_rows) if p.suffix == ".json" else \
            _load_jsonl_with(p, fmt, "short", _webq_row, skip_bad_rows)
    elif fmt == "webglm-qa":
        ds = _load_jsonl_with(p, fmt, "long", _webglm_qa_row, skip_bad_rows)
    elif fmt == "webgpt":
        ds = _load_jsonl_with(p, fmt, "long", _webgpt_row, skip_bad_rows)
    elif fmt == "eli5":
        ds = _load_eli5(p, skip_bad_rows)
    elif fmt == "stackexchange":
        from .stackexchange import load_stackexchange

        ds = load_stackexchange(p, skip_bad_rows=skip_bad_rows, **se_options)
    elif fmt == "squad":
        from .squad import load_squad

        ds = load_squad(p, **se_options)
    elif fmt == "hf":
        ds = _load_hf(p, fields or Fields(), skip_bad_rows, split)
    else:
        f = fields or Fields()
        ds = _load_jsonl_with(p, "jsonl", f.kind, lambda row: _generic_row(row, f), skip_bad_rows)
    if limit is not None or offset:
        end = None if limit is None else offset + max(limit, 0)
        ds = Dataset(ds.name, ds.fmt, ds.kind, ds.examples[max(offset, 0):end], ds.skipped, ds.source)
    return ds
