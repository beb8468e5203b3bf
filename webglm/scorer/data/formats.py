"""Loaders for public preference formats, all returning :class:`PreferencePair` lists.

* WebGPT comparisons: ``question.full_text``, ``answer_0/1``, ``score_0/1`` (and
  ``quotes_0/1`` with ``title``/``extract`` lists); ties are skipped.
* SHP: ``history``, ``human_ref_A/B``, ``labels`` (1 = A preferred), ``score_A/B``, ``post_id``.
* Generic JSONL: ``{question (or prompt), chosen, rejected}``.
* Anthropic hh-rlhf: ``{chosen, rejected}`` full dialogues that share a prefix; the
  last ``Assistant:`` turn is the answer and everything before it the question.

Files may be ``.jsonl``, ``.jsonl.gz`` or a ``.json`` list. A malformed row is
skipped and recorded in ``failures`` (when given); a file with no usable row
raises :class:`InputError`.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ...errors import InputError
from ...types import Failure
from .pairs import PreferencePair

RowParser = Callable[[Mapping[str, Any]], "PreferencePair | None"]


def iter_rows(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield ``(line number, parsed JSON)`` from a JSONL(.gz) file or a JSON list."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"preference file not found: {path}", hint="pass a .jsonl, .jsonl.gz or .json file")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        if path.name.endswith(".json"):
            data = json.load(fh)
            if not isinstance(data, list):
                raise InputError(f"{path}: a .json file must hold a list of rows")
            yield from enumerate(data, 1)
            return
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield lineno, json.loads(line)
                except json.JSONDecodeError as exc:
                    yield lineno, exc


def _load(path: str | Path, parse: RowParser, source: str, failures: list[Failure] | None) -> list[PreferencePair]:
    pairs: list[PreferencePair] = []
    bad = 0
    for lineno, row in iter_rows(path):
        try:
            if isinstance(row, Exception) or not isinstance(row, Mapping):
                raise ValueError(f"not a JSON object ({row})")
            pair = parse(row)
        except (KeyError, TypeError, ValueError) as exc:
            bad += 1
            if failures is not None:
                failures.append(Failure("score", "bad-row", f"{source} row {lineno}: {exc!r}", url=str(path)))
            continue
        if pair is not None:
            pairs.append(pair)
    if not pairs:
        raise InputError(
            f"no usable {source} preference pairs in {path} ({bad} malformed rows)",
            hint=f"check that the file is in the {source} format",
        )
    return pairs


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    return value


def _webgpt_row(row: Mapping[str, Any], include_quotes: bool) -> PreferencePair | None:
    q = row["question"]
    question = _text(q["full_text"] if isinstance(q, Mapping) else q, "question.full_text")
    s0, s1 = float(row["score_0"]), float(row["score_1"])
    if s0 == s1:
        return None  # a tie says nothing about which answer is better
    win, lose = (0, 1) if s0 > s1 else (1, 0)

    def answer(i: int) -> str:
        text = _text(row[f"answer_{i}"], f"answer_{i}")
        quotes = row.get(f"quotes_{i}") or {}
        if include_quotes and quotes:
            refs = [f"[{n}] {t}: {e}" for n, (t, e) in enumerate(zip(quotes["title"], quotes["extract"]), 1)]
            text = text + "\n\n" + "\n".join(refs)
        return text

    group = str(q.get("id", "")) if isinstance(q, Mapping) else ""
    return PreferencePair(question, answer(win), answer(lose), group, "webgpt", abs(s0 - s1))


def load_webgpt_comparisons(
    path: str | Path, *, include_quotes: bool = False, failures: list[Failure] | None = None
) -> list[PreferencePair]:
    """Load WebGPT comparisons; the higher-scored answer is ``chosen``, ties dropped."""
    return _load(path, lambda r: _webgpt_row(r, include_quotes), "webgpt", failures)


def _shp_row(row: Mapping[str, Any], min_score_ratio: float) -> PreferencePair | None:
    question = _text(row["history"], "history")
    a, b = _text(row["human_ref_A"], "human_ref_A"), _text(row["human_ref_B"], "human_ref_B")
    label = int(row["labels"])
    if label not in (0, 1):
        raise ValueError(f"labels must be 0 or 1, got {label}")
    sa, sb = float(row.get("score_A", 1)), float(row.get("score_B", 1))
    ratio = max(sa, sb) / max(min(sa, sb), 1.0)
    if ratio < min_score_ratio:
        return None
    chosen, rejected = (a, b) if label == 1 else (b, a)
    return PreferencePair(question, chosen, rejected, str(row.get("post_id", "")), "shp", ratio)


def load_shp(
    path: str | Path, *, min_score_ratio: float = 1.0, failures: list[Failure] | None = None
) -> list[PreferencePair]:
    """Load Stanford Human Preferences rows; ``min_score_ratio`` = 2 keeps the clearer pairs
    (the SHP authors' advice)."""
    return _load(path, lambda r: _shp_row(r, min_score_ratio), "shp", failures)


def split_dialogue(chosen: str, rejected: str, marker: str = "\n\nAssistant:") -> tuple[str, str, str]:
    """Split two dialogues that share history into ``(prompt, chosen reply, rejected reply)``."""
    cut = chosen.rfind(marker)
    if cut < 0 or not rejected.startswith(chosen[: cut + len(marker)]):
        raise ValueError("dialogues do not share a prompt ending in an Assistant turn")
    cut += len(marker)
    return chosen[:cut].strip(), chosen[cut:].strip(), rejected[cut:].strip()


def _generic_row(row: Mapping[str, Any]) -> PreferencePair | None:
    chosen, rejected = _text(row["chosen"], "chosen"), _text(row["rejected"], "rejected")
    question = row.get("question", row.get("prompt"))
    if question is None:
        question, chosen, rejected = split_dialogue(chosen, rejected)
        if not chosen or not rejected:
            raise ValueError("empty final assistant turn")
    question = _text(question, "question")
    if chosen == rejected:
        return None
    group = str(row.get("group", "") or "")
    margin = float(row.get("margin", 1.0))
    return PreferencePair(question, chosen, rejected, group, str(row.get("source", "jsonl")), margin)


def load_pairs_jsonl(path: str | Path, *, failures: list[Failure] | None = None) -> list[PreferencePair]:
    """Load ``{question|prompt, chosen, rejected}`` rows, or hh-rlhf dialogues without a question."""
    return _load(path, _generic_row, "jsonl", failures)


FORMATS = ("auto", "stackexchange", "webgpt", "shp", "jsonl")


def detect_format(path: str | Path) -> str:
    """Guess the format of a preference file or folder from its name or its first row."""
    path = Path(path)
    if path.is_dir() or path.name.endswith("Posts.xml"):
        return "stackexchange"
    for _lineno, row in iter_rows(path):
        if isinstance(row, Mapping):
            if "answer_0" in row and "score_0" in row:
                return "webgpt"
            if "human_ref_A" in row:
                return "shp"
            if "chosen" in row and "rejected" in row:
                return "jsonl"
        break
    raise InputError(f"cannot tell the format of {path}", hint=f"pass one of {', '.join(FORMATS[1:])}")
