"""Hybrid ranking: candidates -> dense rerank -> fused score -> MMR -> per-source cap -> top-k.

What BM25 and the encoder see of a passage is its title followed by its text
(:func:`ranking_text`), as BEIR, DPR and Contriever index documents; the title
is stored once, in ``Passage.title``, not repeated in ``Passage.text``.

Candidates (:func:`candidate_ids`): a question with at most ``rank.dense_budget``
passages has every one dense-scored, so a passage BM25 misses (a paraphrase,
another language) can still win. Above that, BM25 picks three quarters of the
budget and each page's leading passages fill the rest, so that every page keeps
some dense coverage. Encoding is the cost that matters on CPU, hence the budget.

Scores live on an absolute scale so one abstention threshold works across
questions: the lexical part is BM25 divided by the query's attainable maximum
(in [0, 1), see :mod:`.lexical`) and the dense part is the cosine similarity of
query and passage. The fused score is their weighted sum. With ``fusion="rrf"``
the order comes from reciprocal-rank fusion instead, while abstention still uses
the absolute fused score. For a question in a language the encoder does not cover
(:func:`covers`) the dense similarity is noise, so order and absolute score are BM25
alone, with its own threshold ``rank.min_lexical_score``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from ..config import RankConfig
from ..errors import InputError
from ..text import detect_language
from ..types import Passage, Reference
from .crosslingual import combined, foreign_mask, reserve, translation
from .lexical import BM25Index

RRF_K = 60  # the usual reciprocal-rank-fusion constant; damps the head of each list


@dataclass(frozen=True, slots=True)
class Ranking:
    """References numbered 1..k (empty when ``abstained``), stage timings in seconds
    and counters (passages seen, candidates reranked, texts encoded, cache hits)."""

    references: tuple[Reference, ...]
    abstained: bool
    timings: Mapping[str, float] = field(default_factory=dict)
    counters: Mapping[str, float] = field(default_factory=dict)
    best_score: float = 0.0


def ranking_text(passage: Passage) -> str:
    """The text BM25 and the encoder score: ``title`` then ``text`` (the text alone without a title)."""
    title = " ".join(passage.title.split())
    if not title or passage.text.startswith(title):
        return passage.text
    return f"{title}\n{passage.text}"


def source_key(url: str) -> str:
    """The per-source cap's key: a URL without its ``#fragment``, so passages of one local
    file (``file:guide.md#L12``, ``#L40``) or one page count as one source."""
    return url.split("#", 1)[0]


def candidate_ids(lexical: np.ndarray, urls: Sequence[str], budget: int) -> np.ndarray:
    """Indexes of the (at most ``budget``) passages to dense-score, BM25's picks first.

    All passages when there are no more than ``budget``; otherwise BM25's best
    ``budget - budget // 4`` and then, for the last quarter, each page's passages in
    reading order, one page at a time in turn, so no page goes unseen by the encoder.
    Pages BM25 picked nothing from take their turns first: a small budget has fewer
    slots than there are pages."""
    n = len(lexical)
    order = np.argsort(-lexical, kind="stable")
    if n <= budget:
        return order
    picked = dict.fromkeys(int(i) for i in order[: budget - budget // 4])
    by_source: dict[str, list[int]] = {}
    for i, url in enumerate(urls):
        by_source.setdefault(source_key(url), []).append(i)
    pages = sorted(by_source.values(), key=lambda ids: any(i in picked for i in ids))  # stable
    lanes = [iter(ids) for ids in pages]
    while len(picked) < budget and lanes:
        for lane in list(lanes):
            nxt = next(lane, None)
            if nxt is None:
                lanes.remove(lane)
            elif len(picked) < budget:
                picked.setdefault(nxt)
    return np.fromiter(picked, dtype=np.int64, count=len(picked))


def check_question(question: str) -> str:
    if not isinstance(question, str) or not question.strip():
        raise InputError("the question is empty", stage="rank", hint="pass a non-empty question")
    return question.strip()


def covers(encoder, question: str, rank: RankConfig | None = None) -> bool:
    """Whether ``encoder`` was trained on the question's language (its ``languages``; an empty
    or missing tuple means multilingual or unknown, trusted). Always true with
    ``rank.languages = "off"``."""
    languages = getattr(encoder, "languages", ())
    if not languages or (rank is not None and rank.languages == "off"):
        return True
    return detect_language(question) in languages


def fuse(dense: np.ndarray, lexical: np.ndarray, rank: RankConfig,
         dense_order: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(order score, absolute score) per candidate. The absolute score is
    ``w*dense + (1-w)*lexical``; the order score is the same, or RRF over both lists.
    Without ``dense_order`` (an encoder that does not know the question's language: its
    similarities are noise) both are the lexical score alone: MiniLM gives any two Chinese
    texts a cosine near 0.5, which kept every fused score above ``min_score``."""
    if not dense_order:
        lexical = lexical.astype(np.float32)
        return lexical, lexical
    w = rank.dense_weight
    absolute = (w * dense + (1.0 - w) * lexical).astype(np.float32)
    if rank.fusion == "score":
        return absolute, absolute
    order = np.zeros_like(absolute)
    for weight, scores in ((w, dense), (1.0 - w, lexical)):
        ranks = np.empty(len(scores), dtype=np.float32)
        ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
        order += weight / (RRF_K + ranks)
    return order, absolute


def select(order: np.ndarray, vecs: np.ndarray, urls: Sequence[str], rank: RankConfig) -> list[int]:
    """Greedy maximal-marginal-relevance selection with a per-source cap (:func:`source_key`).

    Relevance is min-max scaled over the candidates so ``mmr_lambda`` trades it
    against cosine redundancy on a comparable 0..1 scale."""
    n = len(order)
    if n == 0:
        return []
    lo, hi = float(order.min()), float(order.max())
    rel = (order - lo) / (hi - lo) if hi > lo else np.ones(n, dtype=np.float32)
    diverse = rank.mmr_lambda < 1.0
    unit = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9) if diverse else None
    redundancy = np.zeros(n, dtype=np.float32)
    per_url: dict[str, int] = {}
    chosen: list[int] = []
    available = np.ones(n, dtype=bool)
    while len(chosen) < rank.top_k and available.any():
        score = rank.mmr_lambda * rel - (1.0 - rank.mmr_lambda) * redundancy
        score = np.where(available, score, -np.inf)
        best = int(np.argmax(score))
        available[best] = False
        url = source_key(urls[best])
        if url and per_url.get(url, 0) >= rank.per_url_cap:
            continue
        if url:
            per_url[url] = per_url.get(url, 0) + 1
        chosen.append(best)
        if unit is not None:
            redundancy = np.maximum(redundancy, unit @ unit[best])
    return chosen


def assemble(candidates: Sequence[Passage], vecs: np.ndarray, dense: np.ndarray, lexical: np.ndarray,
             rank: RankConfig, dense_order: bool = True,
             translated: tuple[np.ndarray, np.ndarray] | None = None,
             ) -> tuple[tuple[Reference, ...], bool, float]:
    """Fuse, select and number the references; abstain when the best absolute score is low.
    ``translated``: (lexical score of the question's translation, in another language) per
    candidate (:mod:`.crosslingual`)."""
    if not candidates:
        return (), True, 0.0
    if translated is not None:
        lexical = combined(lexical, *translated)
    order, absolute = fuse(dense, lexical, rank, dense_order)
    best = float(absolute.max())
    if best < (rank.min_score if dense_order else rank.min_lexical_score):
        return (), True, best
    picks = select(order, vecs, [p.url for p in candidates], rank)
    if translated is not None:
        picks = reserve(picks, *translated, rank)
    refs = tuple(Reference(index=i + 1, passage=candidates[j], score=float(absolute[j])) for i, j in enumerate(picks))
    return refs, False, best


class Ranker:
    """Ranks the passages retrieved for one question (the pipeline's ranking stage)."""

    def __init__(self, encoder, rank: RankConfig | None = None):
        self.encoder = encoder
        self.rank_config = rank or RankConfig()

    def rank(self, question: str, passages: Sequence[Passage]) -> Ranking:
        """Top-k references for ``question`` among ``passages`` (see module docstring)."""
        cfg = self.rank_config
        question = check_question(question)
        t0 = time.perf_counter()
        passages = list(passages)
        lex_index = BM25Index()
        lex_index.add(ranking_text(p) for p in passages)
        tr = translation(question, foreign_mask(question, [ranking_text(p) for p in passages], cfg))
        scores = lex_index.scores(question)
        tr_lex = tr.lexical(lex_index) if tr is not None else None
        # candidates by the better of the two lexical scores, so English passages get encoded too
        ids = candidate_ids(scores if tr_lex is None else np.maximum(scores, tr_lex), [p.url for p in passages],
                            cfg.dense_budget)
        lex = scores[ids]
        candidates = [passages[i] for i in ids]
        t1 = time.perf_counter()
        before_enc = getattr(self.encoder, "encoded", 0)
        cache = getattr(self.encoder, "cache", None)
        before_hits = cache.hits if cache is not None else 0
        qvec = self.encoder.encode([question], "query")[0] if candidates else None
        vecs = (self.encoder.encode([ranking_text(p) for p in candidates], "passage") if candidates
                else np.zeros((0, 1)))
        dense = vecs @ qvec if qvec is not None else np.zeros(0, dtype=np.float32)
        translated = (tr_lex[ids], tr.foreign[ids]) if tr is not None and tr_lex is not None else None
        t2 = time.perf_counter()
        refs, abstained, best = assemble(candidates, vecs, dense, lex, cfg, covers(self.encoder, question, cfg),
                                         translated)
        t3 = time.perf_counter()
        counters = {
            "passages": float(len(passages)),
            "candidates": float(len(candidates)),
            "encoded": float(getattr(self.encoder, "encoded", 0) - before_enc),
            "cache_hits": float((cache.hits if cache is not None else 0) - before_hits),
        }
        timings = {"lexical": t1 - t0, "encode": t2 - t1, "select": t3 - t2, "total": t3 - t0}
        return Ranking(refs, abstained, timings, counters, best)
