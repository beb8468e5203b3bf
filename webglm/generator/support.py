"""Does a reference support a sentence? A calibrated probability and the quoted span.

WebGLM's rule (ROUGE-1 precision of the sentence against the whole passage) cannot see a
changed number, a missing qualifier or an unsupported second half: on ExpertQA's expert
labels it is a coin flip (ROC-AUC 0.52, docs/benchmarks.md). This check instead

1. cuts the reference into windows (each sentence, and each pair of neighbouring sentences)
   with character offsets, so the evidence is an exact, quotable span;
2. describes the sentence against its best window by a handful of cheap features: lexical
   precision (words and word pairs), dense similarity from the encoder the pipeline has
   already loaded (optional), numbers and names of the sentence missing from the reference,
   and a negation mismatch;
3. combines them with a small logistic regression trained on expert labels
   (``bench/support_check.py``; weights in ``webglm/data/support-lr.json``), whose output is
   a probability of support.

Everything here is numpy and the standard library; the encoder is any object with
``encode(texts, kind)`` returning unit vectors (the pipeline passes its MiniLM).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Hashable, Sequence

from ..text import sentence_spans
from .citations import content_words, strip_citations

FEATURES = ("rouge_passage", "rouge_window", "bigram_window", "dense_window", "dense_passage",
            "numbers_missing", "names_missing", "rare_missing", "negation_mismatch", "length",
            "rouge_clause_min", "dense_clause_min")
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "data" / "support-lr.json"

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z]+")
_WORDS = re.compile(r"[^\W_]+", re.UNICODE)
_CLAUSE = re.compile(r"[,;:]\s+|\s+(?:and|but|while|whereas|which|because|although)\s+")
_NEGATION = frozenset("not no never none nor cannot without neither unlikely fail fails failed".split())
MAX_WINDOWS = 40  # a long page is cut to its first windows: keeps one pair well under 20 ms


@dataclass(frozen=True, slots=True)
class SpanSupport:
    """Support of one sentence by one reference: a probability and the best span
    (``start``/``end`` are character offsets into the reference text)."""

    probability: float
    start: int
    end: int
    features: tuple[float, ...] = ()


def windows(text: str) -> list[tuple[int, int]]:
    """Single sentences and pairs of neighbouring sentences, as character spans."""
    spans = sentence_spans(text)
    out = list(spans) + [(spans[i][0], spans[i + 1][1]) for i in range(len(spans) - 1)]
    return out[:MAX_WINDOWS] or [(0, len(text))]


@lru_cache(maxsize=4096)
def _words(text: str) -> tuple[str, ...]:
    return tuple(content_words(text))


def _precision(claim: Sequence[Hashable], ref: Sequence[Hashable]) -> float:
    if not claim:
        return 0.0
    have = set(ref)
    return sum(1 for w in claim if w in have) / len(claim)


def _bigrams(words: Sequence[str]) -> list[tuple[str, str]]:
    return list(zip(words, words[1:]))


def _missing(found: Sequence[str], haystack: str) -> float:
    """Share of ``found`` (numbers, names) that do not occur in ``haystack``."""
    if not found:
        return 0.0
    low = haystack.lower()
    return sum(1 for f in found if f.lower() not in low) / len(found)


def _negated(text: str) -> bool:
    return any(w in _NEGATION or w.endswith("n't") for w in text.lower().split())


def _numbers(text: str) -> list[str]:
    # "[3]"-style markers are stripped first; a lone year or count is a claim worth checking
    return [n.replace(",", "") if n.count(",") and "." not in n else n for n in _NUMBER.findall(text)]


def clauses(claim: str) -> list[str]:
    """The parts of a sentence that can each be (un)supported: split at commas and
    conjunctions, parts of fewer than three content words merged into their neighbour."""
    parts: list[str] = []
    for piece in _CLAUSE.split(strip_citations(claim)):
        if parts and len(_words(parts[-1])) < 3:
            parts[-1] = f"{parts[-1]} {piece}"
        else:
            parts.append(piece)
    if len(parts) > 1 and len(_words(parts[-1])) < 3:
        parts[-2:] = [f"{parts[-2]} {parts[-1]}"]
    return parts or [claim]


def lexical_features(claim: str, reference: str) -> tuple[list[float], tuple[int, int]]:
    """Features that need no model, and the best window by word precision."""
    claim = strip_citations(claim)
    cw = _words(claim)
    wins = windows(reference)
    best, best_p = wins[0], -1.0
    for a, b in wins:
        p = _precision(cw, _words(reference[a:b]))
        if p > best_p:
            best, best_p = (a, b), p
    window = reference[best[0]:best[1]]
    ww = _words(window)
    ref_words = _words(reference)
    cb = _bigrams(cw)
    bigram = _precision(cb, _bigrams(ww)) if cb else best_p
    numbers = _numbers(claim)
    ref_numbers = set(_numbers(reference))
    num_missing = sum(1 for n in numbers if n not in ref_numbers) / len(numbers) if numbers else 0.0
    names = _NAME.findall(claim)
    rare = [w for w in cw if len(w) >= 8]
    feats = [_precision(cw, ref_words), max(best_p, 0.0), bigram, 0.0, 0.0, num_missing,
             _missing(names, reference), _precision(rare, ref_words) if rare else 1.0,
             float(_negated(claim) != _negated(window)), math.log1p(len(cw)),
             min(_precision(_words(c), ref_words) for c in clauses(claim)), 0.0]
    feats[7] = 1.0 - feats[7]  # rare_missing: share of long content words not in the reference
    return feats, best


class SupportModel:
    """Scores sentence-reference pairs with a logistic combiner over :data:`FEATURES`.

    ``weights`` maps feature name -> weight (plus ``bias``); ``threshold`` is the probability
    at which a citation counts as supported. With an ``encoder`` the dense features are
    filled in (and the best window is the best by dense similarity when it beats the
    lexical pick); without one they stay 0 and a model trained without them should be used.
    """

    def __init__(self, weights: dict[str, float], *, threshold: float = 0.5, encoder: Any = None,
                 name: str = "support-lr", dense: bool = True):
        self.weights = dict(weights)
        self.threshold = threshold
        self.bonus = 0.0  # the probability already knows nothing of who cited what
        # in answers, a supporting window must share at least this share of the sentence's
        # content words (the probability alone let unrelated short references through)
        self.min_overlap = 0.6
        self.dense = dense and any(self.weights.get(f) for f in ("dense_window", "dense_passage"))
        self.encoder = encoder if self.dense else None
        self.name = name

    @classmethod
    def load(cls, path: str | Path | None = None, *, encoder: Any = None) -> "SupportModel":
        """Read a model file written by ``bench/support_check.py`` (default: the shipped one)."""
        p = Path(path) if path else DEFAULT_MODEL
        data = json.loads(p.read_text(encoding="utf-8"))
        if data.get("format") != "webglm-support/1":
            raise ValueError(f"not a webglm-support/1 file (format {data.get('format')!r})")
        # a file carries a dense model and a lexical one for use without an encoder
        dense = encoder is not None and bool(data.get("dense"))
        suffix = "" if dense or "weights_lexical" not in data else "_lexical"
        return cls(data[f"weights{suffix}"], threshold=float(data[f"threshold{suffix}"]), encoder=encoder,
                   name=data.get("name", p.stem) + suffix.replace("_", "-"), dense=dense)

    def features(self, claims: Sequence[str], reference: str) -> list[tuple[list[float], tuple[int, int]]]:
        """Feature rows and best spans of each claim against one reference."""
        rows = [lexical_features(c, reference) for c in claims]
        if self.encoder is None or not claims:
            return rows
        # dense windows are single sentences (pairs would double the encoder's work); the whole
        # passage is usually in the encoder's cache already, from ranking
        wins = sentence_spans(reference)[:MAX_WINDOWS] or [(0, len(reference))]
        texts = [reference[a:b] for a, b in wins]
        import numpy as np

        parts = [clauses(c) for c in claims]
        flat = [p for ps in parts for p in ps]
        vecs = self.encoder.encode([strip_citations(c) for c in claims] + texts + [reference] + flat, "passage")
        n, m = len(claims), len(texts)
        cvec, wvec, pvec, qvec = vecs[:n], vecs[n:n + m], vecs[n + m], vecs[n + m + 1:]
        sims = cvec @ wvec.T
        part_sims = (qvec @ wvec.T).max(axis=1)
        out = []
        at = 0
        for i, (feats, span) in enumerate(rows):
            j = int(np.argmax(sims[i]))
            feats = list(feats)
            feats[3], feats[4] = float(sims[i, j]), float(cvec[i] @ pvec)
            feats[11] = float(part_sims[at:at + len(parts[i])].min())  # the least supported part
            at += len(parts[i])
            # the lexical window is kept unless a sentence is clearly closer in meaning:
            # it quotes the words the answer sentence used
            lexical = float(sims[i, wins.index(span)]) if span in wins else feats[3] - 0.05
            if feats[3] > lexical + 0.1:
                span = wins[j]
            out.append((feats, span))
        return out

    def probability(self, feats: Sequence[float]) -> float:
        z = self.weights.get("bias", 0.0) + sum(self.weights.get(n, 0.0) * f for n, f in zip(FEATURES, feats))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def score(self, claims: Sequence[str], reference: str) -> list[SpanSupport]:
        """Support of each claim by ``reference`` with its best span."""
        return [SpanSupport(self.probability(f), a, b, tuple(f)) for f, (a, b) in self.features(claims, reference)]


class Rouge1Support:
    """WebGLM's rule as a support model: ROUGE-1 precision of the sentence against the whole
    passage (the "probability" is that precision; the span is the best window by it)."""

    name = "rouge1"

    def __init__(self, threshold: float = 0.75, bonus: float = 0.3):
        self.threshold, self.bonus = threshold, bonus

    def score(self, claims: Sequence[str], reference: str) -> list[SpanSupport]:
        out = []
        for claim in claims:
            feats, (a, b) = lexical_features(claim, reference)
            out.append(SpanSupport(feats[0], a, b, tuple(feats)))
        return out


def make_support(citation: Any, generate: Any, encoder: Any = None) -> "SupportModel | Rouge1Support":
    """The support check named by ``citation.method`` (a :class:`webglm.config.CitationConfig`);
    ``rouge1`` takes its threshold and bonus from ``generate`` (WebGLM's 0.75 and 0.3)."""
    from ..errors import ConfigError

    if citation.method == "rouge1":
        return Rouge1Support(generate.citation_threshold, generate.cited_bonus)
    try:
        model = SupportModel.load(citation.model or None, encoder=encoder if citation.dense else None)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"cannot read the support model {citation.model or DEFAULT_MODEL}: {exc}",
                          hint="set citation.model to a file written by bench/support_check.py, "
                               "or citation.method=rouge1") from None
    if citation.threshold:
        model.threshold = citation.threshold
    return model
