"""Reward-model evaluation on preference pairs (WebGPT comparisons): pairwise accuracy."""

from __future__ import annotations

from typing import Any

from ..errors import EvalError
from .datasets import Dataset
from .metrics import bootstrap_ci, pairwise_accuracy


def evaluate_reward_model(dataset: Dataset, reward_model: Any, *, resamples: int = 1000,
                          seed: int = 0) -> dict[str, float]:
    """Pairwise accuracy of ``reward_model.score(question, [a0, a1])`` against the human
    scores of a ``webgpt`` dataset (human ties skipped, reward ties count half).

    Returns ``{"pairwise_accuracy": ..., "ci_low": ..., "ci_high": ..., "pairs": n}``.
    """
    if dataset.fmt != "webgpt":
        raise EvalError(f"pairwise accuracy needs a webgpt comparisons dataset, not {dataset.fmt!r}")
    per_pair: list[float] = []
    for ex in dataset.examples:
        margin = ex.meta["score_0"] - ex.meta["score_1"]
        if margin == 0:
            continue
        r0, r1 = reward_model.score(ex.question, [ex.meta["answer_0"], ex.meta["answer_1"]])
        per_pair.append(pairwise_accuracy([(r0, r1, margin)]))
    lo, hi = bootstrap_ci(per_pair, resamples=resamples, seed=seed)
    acc = sum(per_pair) / len(per_pair) if per_pair else float("nan")
    return {"pairwise_accuracy": acc, "ci_low": lo, "ci_high": hi, "pairs": float(len(per_pair))}
