"""Thin entry points for the command line (``webglm score`` and ``webglm train-scorer``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..config import ScorerConfig
from ..errors import InputError
from ..text import find_citations
from ..types import Candidate, ScoredAnswer
from .data import StackExchangeRecipe, grouped_split, load_pairs
from .reward import load_reward_model
from .select import select_best


def score_answers(question: str, answers: Sequence[str], scorer: ScorerConfig | None = None) -> list[ScoredAnswer]:
    """Rank plain-text answers to ``question`` with the reward model, best first.

    Citation quality counts as in best-of-n: an answer that cites ``[n]`` gets it.
    """
    if not answers:
        raise InputError("no answers to score", hint="pass one or more answers after the question")
    scorer = scorer or ScorerConfig()
    cands = [Candidate(text=a, citations=tuple(sorted(set(find_citations(a)))))
             for a in answers]
    return select_best(question, cands, load_reward_model(scorer).load(), scorer)


def score_records(question: str, scored: Sequence[ScoredAnswer], answers: Sequence[str]) -> list[dict]:
    """One JSON-ready object per answer, in input order: its position, rank, reward,
    citation score and total (what ``webglm score --json`` prints)."""
    rank = {id(s.candidate): i for i, s in enumerate(scored, 1)}
    by_text: dict[str, list[Any]] = {}
    for s in scored:
        by_text.setdefault(s.candidate.text, []).append(s)
    out = []
    for i, text in enumerate(answers):
        s = by_text[text].pop(0)
        out.append({"question": question, "index": i, "answer": text, "rank": rank[id(s.candidate)],
                    "reward": s.reward, "citation_score": s.citation_score, "total": s.total})
    return out


def read_score_file(path: str | Path) -> list[tuple[str, list[str]]]:
    """``(question, answers)`` rows from a JSONL file of ``{"question": ..., "answers": [...]}``
    objects; ``-`` reads standard input. Raises :class:`InputError` naming the bad line."""
    import sys

    lines = sys.stdin.read().splitlines() if str(path) == "-" else _read_lines(Path(path))
    rows = []
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{no}: not JSON ({exc.msg})",
                             hint='each line must be {"question": "...", "answers": ["...", ...]}') from None
        q, answers = (obj.get("question"), obj.get("answers")) if isinstance(obj, dict) else (None, None)
        if not isinstance(q, str) or not q.strip() or not isinstance(answers, list) or not answers \
                or not all(isinstance(a, str) for a in answers):
            raise InputError(f"{path}:{no}: needs a non-empty \"question\" string and an \"answers\" list of strings",
                             hint='e.g. {"question": "Why is the sky blue?", "answers": ["Rayleigh scattering."]}')
        rows.append((q, answers))
    if not rows:
        raise InputError(f"{path}: no questions to score", hint="one JSON object per line")
    return rows


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise InputError(f"file not found: {path}", hint="pass a JSONL file of questions and answers, or - for stdin")
    return path.read_text(encoding="utf-8").splitlines()


def format_scores(scored: Sequence[ScoredAnswer]) -> str:
    """One line per answer: rank, total, reward, citation score and the answer's start."""
    lines = []
    for rank, s in enumerate(scored, 1):
        head = " ".join(s.candidate.text.split())[:70]
        lines.append(f"{rank}. total={s.total:+.3f} reward={s.reward:+.3f} citation={s.citation_score:.2f}  {head}")
    return "\n".join(lines)


def train_scorer_command(
    data: Sequence[str],
    out: str,
    *,
    fmt: str = "auto",
    recipe: StackExchangeRecipe | None = None,
    config=None,
    validation: float = 0.1,
    test: float = 0.2,
    seed: int = 0,
    resume: bool = False,
    echo: Callable[[str], None] = print,
) -> dict[str, float]:
    """Load pairs from ``data`` paths, split by question, train, and evaluate on the test split.

    Writes ``metrics.json`` beside the scorer; returns the metrics (``test_accuracy``
    is the primary one, ``test_length_baseline`` the rule it must beat).
    """
    from .evaluate import evaluate_scorer, length_baseline
    from .reward import RewardModel
    from .train import TrainScorerConfig, train_scorer

    pairs = [p for path in data for p in load_pairs(path, fmt, recipe=recipe)]
    splits = grouped_split(pairs, validation=validation, test=test, seed=seed)
    echo(f"pairs: {splits.sizes()}")

    def progress(ev) -> None:
        if ev.event == "eval":
            echo(f"epoch {ev.epoch}: step {ev.step}/{ev.total_steps} loss {ev.loss:.4f} val_acc {ev.val_accuracy:.4f}")

    metrics = train_scorer(splits.train, splits.validation, out, config or TrainScorerConfig(),
                           progress=progress, resume=resume)
    if splits.test:
        acc = evaluate_scorer(RewardModel(out), splits.test)
        metrics.update(test_accuracy=acc["accuracy"], test_pairs=acc["pairs"],
                       test_length_baseline=length_baseline(splits.test)["accuracy"])
    Path(out, "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return metrics
