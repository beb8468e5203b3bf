"""A model-free extractive baseline answerer.

It answers from the example's given references (WebGLM-QA) by quoting the sentences with the
most word overlap with the question and citing where each came from. It needs no model, is
deterministic, and gives the floor any generator should beat on ROUGE-L and citation metrics;
the tests also use it to exercise the runner with real answers.
"""

from __future__ import annotations

from ..generator.citations import pick_sentences
from ..types import Answer, Reference, Trace
from .datasets import Example


class ExtractiveAnswerer:
    """Quote the ``sentences`` best-overlapping reference sentences, each cited ``[n]``.

    Abstains (``abstained=True``, empty text) when the example has no references or no
    sentence shares a content word with the question.
    """

    def __init__(self, sentences: int = 2):
        self.sentences = sentences

    def pick(self, question: str, references: tuple[Reference, ...]) -> list[tuple[int, str]]:
        """The chosen ``(reference index, sentence)`` pairs, in reading order."""
        return pick_sentences(question, [(r.index, r.passage.text) for r in references], self.sentences,
                              min_words=1)

    async def __call__(self, example: Example) -> Answer:
        chosen = self.pick(example.question, example.references)
        if not chosen:
            return Answer(example.question, "", example.references, abstained=True)
        text = " ".join(f"{sent.rstrip('.!?')} [{idx}]." for idx, sent in chosen)
        counters = {"tokens_in": float(sum(len(r.passage.text.split()) for r in example.references)),
                    "tokens_out": float(len(text.split()))}
        return Answer(example.question, text, example.references, trace=Trace(counters=counters),
                      citations=tuple(sorted({idx for idx, _ in chosen})))
