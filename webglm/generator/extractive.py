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

from ..messages import language_name_in, message
from ..text import detect_language, find_citations, is_cjk, join_sentences, tokenize
from ..translate import SUPPORTED, translated_words
from .citations import _CODE, _INJECTION, _TABLE_ROW, _cite, _plain, content_words, split_sentences, strip_citations
from .citations import extractive_answer as word_overlap_answer

_YEAR = re.compile(r"\b(?:1\d{3}|20\d{2})s?\b")
_MONTH = re.compile(r"\b(?:January|February|March|April|May|June|July|August|September|October|November|"
                    r"December)\b")
_NUMBER = re.compile(r"\b\d[\d,.]*\b|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
                     r"twenty|thirty|forty|fifty|hundred|thousand|million|billion)\b", re.I)
_LINK = re.compile(r"\[([^\]]+)\]\([^)\s]+\)")
_QUOTES = re.compile("[\"\u201c\u201d]")
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


def pick_translated(question: str, references: Sequence[tuple[int, str]], n: int = 1,
                    language: str = "") -> list[tuple[int, str]]:
    """``(reference index, sentence)`` of the ``n`` sentences of references in another language
    than the question that match the most of the question's Chinese words through their
    dictionary translation (:mod:`webglm.translate`), better-ranked references first on ties;
    none unless at least one word matches, or for questions in a language without a dictionary."""
    lang = language or detect_language(question)
    if lang not in SUPPORTED:
        return []
    groups = [set(terms) for word, terms in translated_words(question) if is_cjk(word)]
    foreign = [(i, t) for i, t in references if detect_language(t, default=lang) != lang]
    scored = []
    for rank, pos, idx, sent in _candidates(foreign) if groups else ():
        if is_cjk(sent) or _QUOTES.search(sent):
            continue  # a sentence quoting Chinese text, or with quotes of its own, cannot be quoted whole
        terms = set(tokenize(sent))
        matched = sum(1 for group in groups if group & terms)
        if matched:
            scored.append((-matched, rank, pos, idx, sent))
    scored.sort()
    # Markdown links read as their text inside a quotation
    return [(idx, _LINK.sub(r"\1", sent)) for *_key, idx, sent in sorted(scored[:n], key=lambda x: (x[1], x[2]))]


def quote_in_other_language(sentence: str, idx: int, source_language: str, language: str) -> str:
    """``sentence`` of reference ``idx`` quoted as written, introduced in the reader's language:
    ``英文资料写道：“…”[3]。`` (the citation check scores the quote alone, in its own language)."""
    intro = message("quoted_source", language, name=language_name_in(source_language, language))
    end = "。" if language in ("zh", "ja") else "."
    sep = "" if is_cjk(intro[-1:]) or intro.endswith("\uff1a") else " "
    return f"{intro}{sep}\u201c{sentence}\u201d[{idx}]{end}"


def _with_other_language(answer: str, question: str, references: Sequence[tuple[int, str]], lang: str) -> str:
    """``answer`` (quotes in the question's language) followed by the best matching sentence of a
    reference in another language, so the answer cites that source too (e.g. the English page a
    Chinese page summarises)."""
    if not find_citations(answer):
        return answer
    picked = pick_translated(question, references, 1, lang)
    if not picked:
        return answer
    idx, sent = picked[0]
    text = dict(references)[idx]
    return join_sentences([answer, quote_in_other_language(sent, idx, detect_language(text), lang)])


def extractive_answer(question: str, references: Sequence[tuple[int, str]], encoder: Any = None,
                      weights: PickWeights = PickWeights(), skip: int = 0, language: str = "") -> str:
    """Quote the best reference sentences, each cited ``[n]``; references in the question's
    language first (as :func:`webglm.generator.citations.extractive_answer`, which is used
    without an encoder or when nothing here is quotable). A Chinese question also quotes the
    reference in another language that its translation matches best (:func:`pick_translated`),
    and, when no reference is in Chinese, quotes those instead of guessing by similarity."""
    lang = language or detect_language(question)
    same = [(i, t) for i, t in references if detect_language(t, default=lang) == lang]
    if not same and (translated := pick_translated(question, references, weights.sentences, lang)):
        lead = message("other_language", lang)
        return join_sentences([lead] + [_cite(sent, idx) for idx, sent in translated])
    if encoder is None:
        answer = word_overlap_answer(question, references, weights.sentences, skip, lang)
    else:
        picked = pick_dense(question, same or references, encoder, weights, skip)
        answer = (join_sentences([_cite(sent, idx) for idx, sent in picked]) if picked
                  else word_overlap_answer(question, references, weights.sentences, skip, lang))
    return _with_other_language(answer, question, references, lang) if same and lang in SUPPORTED else answer
