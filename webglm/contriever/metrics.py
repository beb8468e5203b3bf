"""Retrieval metrics. Each takes a ranked list of ids (best first) and the relevant set
or graded labels; :func:`summarize` averages them over queries."""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

from ..retrieval_metrics import recall_at_k, reciprocal_rank

__all__ = ["ndcg_at_k", "pairwise_accuracy", "recall_at_k", "reciprocal_rank", "spearman", "summarize"]


def ndcg_at_k(ranked: Sequence, gains: Mapping, k: int) -> float:
    """Normalised discounted cumulative gain with graded ``gains`` (missing = 0)."""
    dcg = sum(gains.get(item, 0.0) / math.log2(pos + 1) for pos, item in enumerate(ranked[:k], 1))
    ideal = sorted((g for g in gains.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(pos + 1) for pos, g in enumerate(ideal, 1))
    return dcg / idcg if idcg > 0 else 0.0


def pairwise_accuracy(scores: Sequence[float], labels: Sequence[float]) -> tuple[int, int]:
    """(correctly ordered, total) over pairs with different labels — WebGLM's retriever accuracy."""
    right = total = 0
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            if labels[i] == labels[j]:
                continue
            total += 1
            right += (scores[i] - scores[j]) * (labels[i] - labels[j]) > 0
    return right, total


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):  # ties share their average rank
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for m in range(i, j + 1):
            ranks[order[m]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def spearman(scores: Sequence[float], labels: Sequence[float]) -> float | None:
    """Spearman rank correlation; None when either side is constant or too short."""
    if len(scores) < 2:
        return None
    a, b = _ranks(scores), _ranks(labels)
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    va, vb = sum((x - ma) ** 2 for x in a), sum((y - mb) ** 2 for y in b)
    if va == 0 or vb == 0:
        return None
    return cov / math.sqrt(va * vb)


def summarize(rows: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Mean of every key over the rows (keys absent from a row, or NaN in it, are skipped for
    it: a query without relevant items has no recall)."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for row in rows:
        for key, value in row.items():
            if math.isnan(float(value)):
                continue
            sums[key] = sums.get(key, 0.0) + float(value)
            counts[key] = counts.get(key, 0) + 1
    return {key: sums[key] / counts[key] for key in sums}
