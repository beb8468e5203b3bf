"""Pairwise evaluation of reward models and the baselines a scorer must beat."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from ..errors import InputError
from ..protocols import RewardModel
from .data.pairs import PreferencePair
from .data.stackexchange import count_words


def pairwise_accuracy(pairs: Sequence[PreferencePair], scores: Sequence[tuple[float, float]]) -> dict[str, float]:
    """Accuracy of ``(chosen score, rejected score)`` per pair; a tie counts as half right
    (what a coin flip between the two would get)."""
    if not pairs:
        raise InputError("no pairs to evaluate", hint="check the data path and split")
    wins = sum(1.0 for c, r in scores if c > r)
    ties = sum(1.0 for c, r in scores if c == r)
    return {
        "accuracy": (wins + 0.5 * ties) / len(pairs),
        "pairs": float(len(pairs)),
        "questions": float(len({p.group_key() for p in pairs})),
        "ties": ties,
        "mean_margin": sum(c - r for c, r in scores) / len(pairs),
    }


def score_pairs(
    pairs: Sequence[PreferencePair], score: Callable[[str, list[str]], list[float]]
) -> list[tuple[float, float]]:
    """``(chosen score, rejected score)`` per pair, scoring each distinct answer once per question."""
    by_question: dict[str, list[str]] = defaultdict(list)
    for p in pairs:
        for a in (p.chosen, p.rejected):
            if a not in by_question[p.question]:
                by_question[p.question].append(a)
    table: dict[tuple[str, str], float] = {}
    for question, answers in by_question.items():
        for a, s in zip(answers, score(question, answers)):
            table[(question, a)] = float(s)
    return [(table[(p.question, p.chosen)], table[(p.question, p.rejected)]) for p in pairs]


def evaluate_scorer(model: RewardModel, pairs: Sequence[PreferencePair]) -> dict[str, float]:
    """Pairwise accuracy (primary metric ``accuracy``) of ``model`` on ``pairs``."""
    if not pairs:
        raise InputError("no pairs to evaluate", hint="check the data path and split")
    return pairwise_accuracy(pairs, score_pairs(pairs, model.score))


def length_baseline(pairs: Sequence[PreferencePair]) -> dict[str, float]:
    """The "longer answer wins" rule (words), the baseline a scorer must beat."""
    return pairwise_accuracy(pairs, [(count_words(p.chosen), count_words(p.rejected)) for p in pairs])
