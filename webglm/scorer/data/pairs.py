"""The preference pair type, JSONL round-trip and question-grouped splits."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ...errors import InputError


@dataclass(frozen=True, slots=True)
class PreferencePair:
    """One human judgement: ``chosen`` was preferred to ``rejected`` for ``question``.

    ``group`` identifies the question (e.g. ``"beer.stackexchange.com/123"``); splits
    are made by group so that no question appears in two splits. ``margin`` is the
    strength of the preference when the source has one (score difference), else 1.
    """

    question: str
    chosen: str
    rejected: str
    group: str = ""
    source: str = ""
    margin: float = 1.0
    meta: Mapping[str, float | int | str] = field(default_factory=dict)

    def group_key(self) -> str:
        """The grouping key: ``group`` if set, otherwise the question text."""
        return self.group or self.question.strip().lower()


@dataclass(frozen=True, slots=True)
class PairSplits:
    """Train / validation / test pairs with disjoint question groups."""

    train: tuple[PreferencePair, ...]
    validation: tuple[PreferencePair, ...]
    test: tuple[PreferencePair, ...]

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}


def _bucket(key: str, seed: int) -> float:
    """A stable pseudo-random number in [0, 1) for a group key (same on every machine)."""
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def grouped_split(
    pairs: Sequence[PreferencePair],
    *,
    validation: float = 0.1,
    test: float = 0.2,
    seed: int = 0,
) -> PairSplits:
    """Split ``pairs`` by question group: every pair of a question lands in the same split.

    The assignment hashes the group key with ``seed``, so it does not depend on the
    order of ``pairs`` and a question keeps its split when more data is added.
    Fractions are of questions, not of pairs.
    """
    if validation < 0 or test < 0 or validation + test >= 1:
        raise InputError(
            f"invalid split fractions validation={validation}, test={test}",
            hint="use non-negative fractions whose sum is below 1",
        )
    out: dict[str, list[PreferencePair]] = {"train": [], "validation": [], "test": []}
    for pair in pairs:
        u = _bucket(pair.group_key(), seed)
        name = "test" if u < test else "validation" if u < test + validation else "train"
        out[name].append(pair)
    return PairSplits(tuple(out["train"]), tuple(out["validation"]), tuple(out["test"]))


def site_split(pairs: Sequence[PreferencePair], test_sites: Iterable[str]) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """``(train, test)`` with every pair whose ``source`` is in ``test_sites`` held out: a
    leave-site-out split, stricter than holding out questions of sites seen in training."""
    held = set(test_sites)
    unknown = held - {p.source for p in pairs}
    if unknown:
        raise InputError(f"no pairs from site(s) {sorted(unknown)}",
                         hint=f"sites present: {sorted({p.source for p in pairs})}")
    return [p for p in pairs if p.source not in held], [p for p in pairs if p.source in held]


def write_pairs_jsonl(pairs: Iterable[PreferencePair], path: str | Path) -> int:
    """Write pairs as ``{question, chosen, rejected, group, source, margin, meta}`` lines."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for pair in pairs:
            row = asdict(pair)
            row["meta"] = dict(pair.meta)
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(path)  # atomic: a crash never leaves a half-written file behind
    return n
