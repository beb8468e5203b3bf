"""Cheap, inspectable text features of an answer (numpy only, no model).

People's votes follow visible traits of an answer: how much it says, whether it is
organised into paragraphs or lists, whether it links to sources, whether it
engages with the words of the question. The reward model combines these with an
encoder embedding; keeping them explicit makes the length preference a visible,
tunable weight instead of something buried in an embedding.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from ..text import find_citations, split_sentences, stopwords

_WORD = re.compile(r"\w+", re.UNICODE)
_URL = re.compile(r"https?://\S+")
_STOP = stopwords("en")  # the function words of webglm.text, as retrieval and support use them

FEATURE_NAMES: tuple[str, ...] = (
    "log_words",
    "log_paragraphs",
    "log_list_items",
    "log_links",
    "has_link",
    "log_citations",
    "mean_sentence_words",
    "digit_ratio",
    "question_marks",
    "first_person",
    "question_overlap",
    "answer_novelty",
)


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


def answer_features(question: str, answer: str) -> list[float]:
    """The :data:`FEATURE_NAMES` values for one answer (unscaled)."""
    words = _WORD.findall(answer)
    n = len(words)
    paragraphs = [p for p in re.split(r"\n\s*\n", answer) if p.strip()]
    list_items = sum(1 for line in answer.splitlines() if re.match(r"\s*(?:[-*•]|\d+[.)])\s+\S", line))
    links = len(_URL.findall(answer))
    sentences = max(1, len(split_sentences(answer)))
    lower = [w.lower() for w in words]
    q_words, a_words = _content_words(question), _content_words(answer)
    overlap = len(q_words & a_words) / len(q_words) if q_words else 0.0
    novelty = len(a_words - q_words) / len(a_words) if a_words else 0.0
    return [
        math.log1p(n),
        math.log1p(len(paragraphs)),
        math.log1p(list_items),
        math.log1p(links),
        float(links > 0),
        math.log1p(len(find_citations(answer))),
        min(n / sentences, 100.0) / 10.0,
        sum(c.isdigit() for c in answer) / max(1, len(answer)) * 10.0,
        math.log1p(answer.count("?")),
        sum(w in ("i", "my", "me", "i'm", "i've") for w in lower) / max(1, n) * 10.0,
        overlap,
        novelty,
    ]


def feature_matrix(question: str | Sequence[str], answers: Sequence[str]) -> np.ndarray:
    """Features of several answers, shape ``(len(answers), len(FEATURE_NAMES))``, float32.

    ``question`` is one question for all answers or one per answer.
    """
    questions = [question] * len(answers) if isinstance(question, str) else list(question)
    rows = [answer_features(q, a) for q, a in zip(questions, answers)]
    return np.asarray(rows, dtype=np.float32).reshape(len(answers), len(FEATURE_NAMES))
