"""A model-free extractive baseline answerer.

It answers from the example's given references (WebGLM-QA) by quoting the sentences with the
most word overlap with the question and citing where each came from. It needs no model, is
deterministic, and gives the floor any generator should beat on ROUGE-L and citation metrics;
the tests also use it to exercise the runner with real answers.
"""

from __future__ import annotations

import re

from ..types import Answer, Reference, Trace
from .datasets import Example

_SENT = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"\w+")
_STOP = frozenset(["a", "an", "the", "of", "to", "in", "on", "at", "for", "and", "or", "is", "are", "was", "were", "be", "by", "with", "what", "who", "when", "where", "why", "how", "which", "do", "does", "did", "from", "as", "it", "its", "that", "this"])


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


class ExtractiveAnswerer:
    """Quote the ``sentences`` best-overlapping reference sentences, each cited ``[n]``.

    Abstains (``abstained=True``, empty text) when the example has no references or no
    sentence shares a content word with the question.
    """

    def __init__(self, sentences: int = 2):
        self.sentences = sentences

    def pick(self, question: str, references: tuple[Reference, ...]) -> list[tuple[int, str]]:
        """The chosen ``(reference index, sentence)`` pairs, best first (ties: earlier first)."""
        q = _words(question)
        scored = []
        for ref in references:
            for pos, sent in enumerate(s for s in _SENT.split(ref.passage.text) if s.strip()):
                overlap = len(q & _words(sent))
                if overlap:
                    scored.append((-overlap, ref.index, pos, sent.strip()))
        scored.sort()
        return [(idx, sent) for _o, idx, _p, sent in scored[: self.sentences]]

    async def __call__(self, example: Example) -> Answer:
        chosen = self.pick(example.question, example.references)
        if not chosen:
            return Answer(example.question, "", example.references, abstained=True)
        text = " ".join(f"{sent} [{idx}]" for idx, sent in chosen)
        counters = {"tokens_in": float(sum(len(r.passage.text.split()) for r in example.references)),
                    "tokens_out": float(len(text.split()))}
        return Answer(example.question, text, example.references, trace=Trace(counters=counters),
                      citations=tuple(sorted({idx for idx, _ in chosen})))
