"""Retriever evaluation: recall@k, MRR, nDCG and WebGLM's pairwise accuracy / Spearman.

Stack Exchange dumps are evaluated as corpus retrieval (a question title against
every answer of the site; its own answers are relevant, their upvotes are the
graded labels). WebGLM-QA rows are evaluated per question over that question's
own references (cited = relevant; ROUGE-1 precision = label).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..config import RankConfig
from ..errors import InputError
from ..types import Passage
from .data import Answer, RetrievalExample, load_examples, load_stackexchange, stackexchange_examples
from .encoders import make_encoder
from .index import CorpusIndex
from .metrics import ndcg_at_k, pairwise_accuracy, reciprocal_rank, recall_at_k, spearman, summarize
from .ranking import Ranker

MODES = ("bm25", "dense", "hybrid")


def answer_passages(site_name: str, answers: Sequence[Answer]) -> list[Passage]:
    """Stack Exchange answers as passages (one URL per answer, so the per-URL cap is moot)."""
    return [Passage(id=a.id, text=a.text, url=f"https://{site_name}/a/{a.id}", title="", source="local")
            for a in answers]


def ranked_ids(index: CorpusIndex, query: str, mode: str, cfg: RankConfig, depth: int) -> list[str]:
    """Ids of the ``depth`` best passages for ``query`` under one retrieval mode."""
    if mode == "bm25":
        ids, _ = index.lexical.top(query, depth)
    elif mode == "dense":
        qvec = index.encoder.encode([query], "query")[0]
        _, found = index.faiss_index.search(qvec[None, :], depth)
        ids = np.array([i for i in found[0] if i >= 0], dtype=np.int64)
    elif mode == "hybrid":
        ranking = index.rank(query, dataclasses.replace(cfg, top_k=depth, min_score=-1e9, min_lexical_score=0.0))
        return [r.passage.id for r in ranking.references]
    else:
        raise InputError(f"unknown retrieval mode {mode!r}", stage="eval", hint=f"use one of {MODES}")
    return [index.passages[int(i)].id for i in ids]


def _row(ranked: list[str], relevant: set[str], ks: Sequence[int]) -> dict[str, float]:
    row = {f"recall@{k}": recall_at_k(ranked, relevant, k) for k in ks}
    row["mrr"] = reciprocal_rank(ranked, relevant)
    row["ndcg@10"] = ndcg_at_k(ranked, {r: 1.0 for r in relevant}, 10)
    return row


def evaluate_index(index: CorpusIndex, examples: Sequence[RetrievalExample], relevant: Sequence[set[str]],
                   mode: str, cfg: RankConfig, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Mean retrieval metrics of ``examples`` against ``index``; ``relevant[i]`` holds passage ids."""
    depth = max(max(ks), 10)
    t0 = time.perf_counter()
    rows = [_row(ranked_ids(index, ex.query, mode, cfg, depth), rel, ks) for ex, rel in zip(examples, relevant)]
    out = summarize(rows)
    out["queries"] = float(len(rows))
    out["seconds_per_query"] = (time.perf_counter() - t0) / max(len(rows), 1)
    return out


def label_agreement(encoder, examples: Sequence[RetrievalExample]) -> dict[str, float]:
    """WebGLM's retriever metrics: per query, do dense scores order the passages like the labels?"""
    right = total = 0
    rhos = []
    for ex in examples:
        texts = list(ex.positives) + list(ex.negatives)
        if len(ex.labels) != len(texts) or len(texts) < 2:
            continue
        scores = (encoder.encode(texts, "passage") @ encoder.encode([ex.query], "query")[0]).tolist()
        r, t = pairwise_accuracy(scores, ex.labels)
        right, total = right + r, total + t
        rho = spearman(scores, ex.labels)
        if rho is not None:
            rhos.append(rho)
    out = {}
    if total:
        out["pairwise_accuracy"] = right / total
    if rhos:
        out["spearman"] = float(np.mean(rhos))
    return out


def evaluate_retriever(data_path: str | Path, *, rank: RankConfig | None = None, mode: str = "hybrid",
                       holdout: float = 0.0, split: str = "all", ks: Sequence[int] = (1, 5, 10),
                       limit: int = 0, progress: Callable[[int, int], None] | None = None) -> dict[str, float]:
    """Evaluate the encoder named by ``rank`` on a Stack Exchange dump or WebGLM-QA file.
    Primary metric: ``recall@5``. ``split``/``holdout`` select held-out questions."""
    cfg = rank or RankConfig()
    if mode not in MODES:
        raise InputError(f"unknown retrieval mode {mode!r}", stage="eval", hint=f"use one of {MODES}")
    encoder = make_encoder(cfg)
    path = Path(data_path)
    if path.suffix.lower() == ".xml":
        site = load_stackexchange(path)
        examples = stackexchange_examples(site, holdout=holdout, split=split)[: limit or None]
        t0 = time.perf_counter()
        index = CorpusIndex.build(answer_passages(site.name, site.answers), encoder, cfg, progress=progress)
        build = time.perf_counter() - t0
        by_parent: dict[str, set[str]] = {}
        for a in site.answers:
            by_parent.setdefault(a.parent, set()).add(a.id)
        out = evaluate_index(index, examples, [by_parent[e.qid] for e in examples], mode, cfg, ks)
        out.update(passages=float(len(index)), passages_per_s=len(index) / build if build else 0.0)
    else:
        examples = list(load_examples(path, holdout=holdout, split=split).examples)[: limit or None]
        out = _per_question(examples, encoder, cfg, mode, ks)
    if mode != "bm25":
        out.update(label_agreement(encoder, examples))
    return out


def _per_question(examples: Sequence[RetrievalExample], encoder, cfg: RankConfig, mode: str,
                  ks: Sequence[int]) -> dict[str, float]:
    """WebGLM-QA: rank each question's own references."""
    rows = []
    for ex in examples:
        texts = list(ex.positives) + list(ex.negatives)
        if not ex.positives or len(texts) < 2:
            continue
        passages = [Passage(id=str(i), text=t, url="", title="") for i, t in enumerate(texts)]
        weight = {"bm25": 0.0, "dense": 1.0}.get(mode, cfg.dense_weight)
        mode_cfg = dataclasses.replace(cfg, top_k=len(texts), min_score=-1e9, min_lexical_score=0.0,
                                       dense_weight=weight,
                                       dense_budget=max(cfg.dense_budget, len(texts)), mmr_lambda=1.0)
        ranking = Ranker(encoder, mode_cfg).rank(ex.query, passages)
        ranked = [r.passage.id for r in ranking.references]
        rows.append(_row(ranked, {str(i) for i in range(len(ex.positives))}, ks))
    out = summarize(rows)
    out["queries"] = float(len(rows))
    return out
