"""Retrieval metrics shared by retriever evaluation (:mod:`webglm.contriever.metrics`) and
batch evaluation (:mod:`webglm.eval.metrics`), so recall and MRR mean the same in both.

A query with no relevant item has no recall: :func:`recall_at_k` returns NaN for it (as
trec_eval leaves such queries out), and the averaging helpers skip NaN rows instead of
counting the query as a miss (0.0) or a hit (1.0).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

__all__ = ["recall_at_k", "reciprocal_rank"]


def recall_at_k(ranked: Sequence[Hashable], relevant: Iterable[Hashable], k: int) -> float:
    """Share of the relevant items found in the top ``k`` of ``ranked``; NaN when nothing
    is relevant (the question is undefined, not failed)."""
    rel = set(relevant)
    if not rel:
        return float("nan")
    return len(rel & set(ranked[:k])) / len(rel)


def reciprocal_rank(ranked: Sequence[Hashable], relevant: Iterable[Hashable]) -> float:
    """1 / rank of the first relevant item (0 when none is ranked); average it for MRR."""
    rel = set(relevant)
    for pos, item in enumerate(ranked, 1):
        if item in rel:
            return 1.0 / pos
    return 0.0
