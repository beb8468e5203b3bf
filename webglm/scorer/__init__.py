"""webglm.scorer: a human-preference reward model and best-of-n selection.

Importing this package does not import torch; models load on first use.

Public API::

    load_reward_model(scorer_config) -> RewardModel      # .load(), .score(q, answers), .model_id
    select_best(question, candidates, reward_model, scorer_config) -> list[ScoredAnswer]
    train_scorer(train_pairs, validation_pairs, out_dir, config) -> dict[str, float]
    evaluate_scorer(model, pairs) -> dict[str, float]    # primary metric: "accuracy"
    score_answers(question, answers, scorer_config) -> list[ScoredAnswer]   # `webglm score`

Preference data (Stack Exchange pair builder, WebGPT / SHP / JSONL loaders,
grouped splits) lives in :mod:`webglm.scorer.data`.
"""

from __future__ import annotations

from typing import Any

from .reward import RewardModel, default_scorer_dir, load_reward_model
from .select import citation_quality, select_best

_LAZY = {
    "train_scorer": "train",
    "TrainScorerConfig": "train",
    "TrainProgress": "train",
    "evaluate_scorer": "evaluate",
    "pairwise_accuracy": "evaluate",
    "length_baseline": "evaluate",
    "score_answers": "cli_support",
    "train_scorer_command": "cli_support",
}


def __getattr__(name: str) -> Any:
    # training and evaluation pull in torch; load them only when asked for
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'webglm.scorer' has no attribute {name!r}")


__all__ = [
    "RewardModel",
    "TrainProgress",
    "TrainScorerConfig",
    "citation_quality",
    "default_scorer_dir",
    "evaluate_scorer",
    "length_baseline",
    "load_reward_model",
    "pairwise_accuracy",
    "score_answers",
    "select_best",
    "train_scorer",
    "train_scorer_command",
]
