"""A Chinese question over passages in English: the question's dictionary translation as a second query.

The packaged MiniLM does not know Chinese and BM25 shares no terms between the languages, so a
Chinese question found an English passage only through a shared Latin word (``webglm``). When
some passages are in another language than the question and the question's language has a
dictionary (:mod:`webglm.translate`), the question is also asked in English: its CC-CEDICT
translation is scored against those passages as a structured BM25 query
(:meth:`.lexical.BM25Index.group_scores`), whose normalised score, like the question's own, is
the share of the question matched. A passage in the other language scores the better of the
two (:func:`combined`), and the translation's best passage keeps a place among the references
(:func:`reserve`).

Measured on the docs corpus (docs/benchmarks.md, "Chinese questions over the English docs"):
encoding the translation as an English query (a string of glosses, not a sentence) and merging
the two rankings by reciprocal-rank fusion both did worse than this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..config import RankConfig
from ..text import detect_language
from ..translate import SUPPORTED, english_query, query_groups, translates
from .lexical import BM25Index

@dataclass(frozen=True, slots=True)
class Translation:
    """The English side of a question: its text (for the encoder), its BM25 groups, and which
    documents of the index are in another language than the question."""

    text: str
    groups: tuple[tuple[str, ...], ...]
    foreign: np.ndarray

    def lexical(self, index: BM25Index) -> np.ndarray:
        """Structured-query BM25 of the translation; 0 for documents in the question's language."""
        return np.where(self.foreign, index.group_scores(self.groups), 0.0).astype(np.float32)


def foreign_mask(question: str, texts: Sequence[str], rank: RankConfig) -> np.ndarray | None:
    """Which ``texts`` are in English when the question's language has a dictionary; None when
    nothing is to be translated (another language, ``rank.translate`` false, ``rank.languages =
    "off"``, or under :data:`MIN_SHARE` of the texts in English)."""
    if rank.languages == "off" or not rank.translate:
        return None
    lang = detect_language(question)
    if lang not in SUPPORTED:
        return None
    mask = np.fromiter((translates(lang, t) for t in texts), dtype=bool, count=len(texts))
    return mask if mask.any() and mask.mean() >= MIN_SHARE else None


def translation(question: str, foreign: np.ndarray | None) -> Translation | None:
    """The question's :class:`Translation`, or None without foreign documents or dictionary words."""
    if foreign is None:
        return None
    groups = tuple(query_groups(question))
    if not groups:
        return None
    return Translation(english_query(question), groups, foreign)


def combined(lexical: np.ndarray, translated: np.ndarray, foreign: np.ndarray) -> np.ndarray:
    """Per candidate the better of the question's BM25 and its translation's (the latter only
    for candidates in the other language): both are shares of the question matched."""
    return np.where(foreign, np.maximum(lexical, translated), lexical).astype(np.float32)


# Translate only when at least this share of the passages is in English. A stray English
# passage in a Chinese corpus is noise to a few glosses: CMRC 2018 has 3 among 5,493 (0.05%),
# and translating for them changed the references of 177 of its first 1,000 questions,
# putting those passages (a track list, a bibliography) among them; the docs corpus is ~99%.
MIN_SHARE = 0.05

# The translation's best passage takes a reserved place only from this normalised BM25 score
# up. Measured: the best translated score of 1,000 CMRC 2018 questions (a Chinese corpus with
# three English passages, a track list and a bibliography) reached it for 0.2% (95th percentile
# 0.096); of the 20 docs questions in Chinese for 85% (median 0.354).
RESERVE_SCORE = 0.2


def reserve(picks: list[int], translated: np.ndarray, foreign: np.ndarray, rank: RankConfig) -> list[int]:
    """``picks`` with the last place given to the translation's best candidate, when it is not
    picked yet and scores at least :data:`RESERVE_SCORE` (and ``rank.min_lexical_score``): a
    question asked in two languages then cites the best of each. Passages quoting the question
    itself (a page about the question, a Chinese page on the same topic) otherwise keep every
    place above the English answer."""
    scores = np.where(foreign, translated, -1.0)
    if not len(scores) or rank.top_k < 2:
        return picks
    best = int(np.argmax(scores))
    if scores[best] < max(rank.min_lexical_score, RESERVE_SCORE) or best in picks:
        return picks
    return picks[: rank.top_k - 1] + [best]
