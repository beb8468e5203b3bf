"""The extractive answer: reference sentences picked by a measured criterion, each cited.

When nothing the model wrote is supported, the answer quotes the references. Which sentences
to quote was measured on NQ-open questions (docs/benchmarks.md, "Quality on public
benchmarks"): a sentence scores by its dense similarity to the question (the encoder the
pipeline already loaded), a cue for the answer type the question asks for (a year for
"when", a number for "how many", a name for "who"), the share of the question's content
words it shares, and the rank of its reference. Without an encoder the word-overlap picker
of :func:`webglm.generator.citations.extractive_answer` is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

from ..text import detect_language, join_sentences
from .citations import _CODE, _INJECTION, _TABLE_ROW, _cite, _plain, content_words, split_sentences, strip_citations
from .citations import extractive_answer as word_overlap_answer

_YEAR = re.compile(r"\b(?:1\d{3}|20\d{2})s?\b")
_MONTH = re.compile(r"\b(?:January|February|March|April|May|June|July|August|September|October|November|"
                    r"December)\b")
_NUMBER = re.compile(r"\b\d[\d,.]*\b|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
                     r"twenty|thirty|forty|fifty|hundred|thousand|million|billion)\b", re.I)
_NAME = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z.]+)*")


@dataclass(frozen=True, slots=True)
class PickWeights:
    """Weights of the sentence score (tuned on a fixed NQ-open slice, bench/nq_answers.py)."""

    # 200 NQ-open questions (the first of the oracle file): 0.78 containment with these weights;
    # cue 0.1-0.5 and rank 0.2-0.3 all gave 0.775-0.785, two sentences at best 0.685
    dense: float = 1.0
    cue: float = 0.2
    overlap: float = 0.0
    rank: float = 0.3
    sentences: int = 3


def answer_type(question: str) -> str:
    """``date``, ``number``, ``name`` or ``""``: what kind of answer the question asks for."""
    q = question.lower().strip()
    if q.startswith("when") or re.search(r"\bwhat (?:year|date|month|day|century)\b|\bhow long ago\b", q):
        return "date"
    if re.search(r"\bhow (?:many|much|long|old|far|tall|big|high|deep)\b|\bwhat (?:percentage|number)\b", q):
        return "number"
    if q.startswith(("who", "whom", "whose")) or re.search(r"\bwho (?:is|was|were|are|played|sang|wrote)\b", q):
        return "name"
    if q.startswith("where"):
        return "name"
    return ""


def cue(kind: str, sentence: str, question: str) -> float:
    """1.0 when ``sentence`` holds something of the asked kind that the question lacks."""
    if kind == "date":
        return 1.0 if _YEAR.search(sentence) or _MONTH.search(sentence) else 0.0
    if kind == "number":
        return 1.0 if _NUMBER.search(sentence) else 0.0
    if kind == "name":
        asked = set(question.lower().split())
        names = [n for n in _NAME.findall(sentence[1:]) if n.split()[0].lower() not in asked]
        return 1.0 if names else 0.0
    return 0.0


def _candidates(references: Sequence[tuple[int, str]]) -> list[tuple[int, int, int, str]]:
    """(rank, position, reference index, sentence) of every quotable statement."""
    out = []
    for rank, (idx, text) in enumerate(references):
        for pos, sent in enumerate(split_sentences(text)):
            plain = _plain(strip_citations(sent)).rstrip(" …")
            if (_INJECTION.search(sent) or plain.endswith(("?", "\uff1f")) or len(content_words(plain)) < 3
                    or _CODE.search(sent) or _TABLE_ROW.search(sent)):
                continue
            out.append((rank, pos, idx, plain))
    return out


def pick_dense(question: str, references: Sequence[tuple[int, str]], encoder: Any,
               weights: PickWeights = PickWeights(), skip: int = 0) -> list[tuple[int, str]]:
    """``(reference index, sentence)`` pairs with the best scores, in reading order."""
    cands = _candidates(references)
    if not cands:
        return []
    vecs = encoder.encode([question] + [c[3] for c in cands], "passage")
    sims = vecs[1:] @ vecs[0]
    q = set(content_words(question))
    kind = answer_type(question)
    scored = []
    for (rank, pos, idx, sent), sim in zip(cands, sims):
        overlap = len(q & set(content_words(sent))) / max(1, len(q))
        s = (weights.dense * float(sim) + weights.cue * cue(kind, sent, question) + weights.overlap * overlap
             - weights.rank * rank)
        scored.append((-s, rank, pos, idx, sent))
    scored.sort()
    n = weights.sentences
    picked = scored[skip:skip + n] or scored[:n]
    return [(idx, sent) for _s, _r, _p, idx, sent in sorted(picked, key=lambda x: (x[1], x[2]))]


def extractive_answer(question: str, references: Sequence[tuple[int, str]], encoder: Any = None,
                      weights: PickWeights = PickWeights(), skip: int = 0, language: str = "") -> str:
    """Quote the best reference sentences, each cited ``[n]``; references in the question's
    language first (as :func:`webglm.generator.citations.extractive_answer`, which is used
    without an encoder or when nothing here is quotable)."""
    if encoder is None:
        return word_overlap_answer(question, references, weights.sentences, skip, language)
    lang = language or detect_language(question)
    same = [(i, t) for i, t in references if detect_language(t, default=lang) == lang]
    picked = pick_dense(question, same or references, encoder, weights, skip)
    if not picked:
        return word_overlap_answer(question, references, weights.sentences, skip, lang)
    return join_sentences([_cite(sent, idx) for idx, sent in picked])
