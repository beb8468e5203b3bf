"""Best-of-n selection: preference reward plus citation quality.

``total = reward_weight * reward + citation_weight * citation``

* ``reward`` is the calibrated reward-model score (mean 0, std 1 on training answers);
* ``citation`` is in [0, 1]: the citation check's ``Candidate.support_probability``
  (mean over claim sentences of the best support probability) when it gives one;
  otherwise the F1 of ``citation_precision`` and ``citation_recall`` when both are
  known, the one that is known otherwise, and when neither is known 1.0 if the
  candidate cites at least one reference, else 0.0.

The support probability comes first because it grades every sentence by how well a
reference supports it, where precision and recall only count sentences over a threshold:
between sampled candidates that all pass the check, it still tells them apart.

With the default weights (1.0, 0.5) perfect citations are worth half a standard
deviation of reward: enough to decide between answers people would like about
equally, not enough to prefer a well-cited non-answer to a much better answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..config import ScorerConfig
from ..errors import ScorerError
from ..protocols import RewardModel
from ..types import Candidate, ScoredAnswer


def citation_quality(candidate: Candidate) -> float:
    """Citation quality of one candidate in [0, 1] (see the module docstring)."""
    if candidate.support_probability is not None:
        return min(1.0, max(0.0, float(candidate.support_probability)))
    p, r = candidate.citation_precision, candidate.citation_recall
    if p is not None and r is not None:
        return 0.0 if p + r <= 0 else 2.0 * p * r / (p + r)
    if p is not None:
        return float(p)
    if r is not None:
        return float(r)
    return 1.0 if candidate.citations else 0.0


def select_best(
    question: str,
    candidates: Sequence[Candidate],
    reward_model: RewardModel,
    scorer: ScorerConfig | None = None,
) -> list[ScoredAnswer]:
    """Score every candidate and return them best first (ties keep generation order)."""
    scorer = scorer or ScorerConfig()
    if not candidates:
        return []
    rewards = reward_model.score(question, [c.text for c in candidates])
    if len(rewards) != len(candidates):
        raise ScorerError(
            f"reward model {getattr(reward_model, 'model_id', '?')} returned {len(rewards)} scores "
            f"for {len(candidates)} candidates"
        )
    scored = []
    for cand, reward in zip(candidates, rewards):
        cite = citation_quality(cand)
        total = scorer.reward_weight * float(reward) + scorer.citation_weight * cite
        scored.append(ScoredAnswer(candidate=cand, reward=float(reward), citation_score=cite, total=total))
    order = sorted(range(len(scored)), key=lambda i: (-scored[i].total, i))
    return [scored[i] for i in order]
