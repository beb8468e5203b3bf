"""Short answers to fact questions: the model names the fact, a quoted sentence proves it.

A 135M model asked to write two cited sentences from five references mixes them up, and a
fluent wrong sentence shares enough words with some reference to pass a support check
(docs/benchmarks.md, "Quality on public benchmarks"). For questions that ask for a date, a
number or a name, the answer is instead built in three steps:

1. the reference sentences most likely to hold the answer are picked by the measured
   criterion of :mod:`webglm.generator.extractive` (dense similarity, answer-type cue, rank);
2. the model is shown only those sentences and asked for the answer as a short phrase
   copied from them (a few tokens: cheap, and hard to get fluently wrong);
3. the phrase is kept only if it occurs, word for word after normalisation, in one of the
   picked sentences and adds something the question does not say; the answer is then the
   phrase followed by that sentence, cited. Otherwise the caller quotes the sentences.
"""

from __future__ import annotations

import re
import string
from typing import Sequence

from .extractive import answer_type
from .prompts import Prompt

MAX_WORDS = 8  # a longer "short answer" is a sentence, which step 3 cannot verify
MAX_TOKENS = 16

SYSTEM = ("Answer the question with a short phrase copied from the text: a name, a date, a number or a "
          "few words. Do not write a sentence.")
EXAMPLES = (
    ("The Eiffel Tower is a wrought-iron lattice tower in Paris. It was completed in 1889 as the "
     "entrance arch of the World's Fair.", "when was the eiffel tower completed", "1889"),
    ("Paris is the capital and largest city of France, on the river Seine. The city has about 2.1 "
     "million inhabitants.", "what river runs through paris", "the Seine"),
)
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_PUNCT = str.maketrans({c: " " for c in string.punctuation + "\u2018\u2019\u201c\u201d"})


def is_fact_question(question: str) -> bool:
    """True when the question asks for a date, a number, a name or a place."""
    return bool(answer_type(question))


def normalize(text: str) -> str:
    """Lower case, punctuation and articles removed, whitespace collapsed (the SQuAD rule)."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split())


def short_prompt(question: str, sentences: Sequence[str], shots: int = 2) -> Prompt:
    """A chat prompt asking for the answer as a phrase copied from ``sentences``."""
    msgs: list[tuple[str, str]] = [("system", SYSTEM)]
    for text, q, a in EXAMPLES[:shots]:
        msgs += [("user", f"Text: {text}\nQuestion: {q}"), ("assistant", a)]
    msgs.append(("user", f"Text: {' '.join(sentences)}\nQuestion: {question}"))
    return Prompt("chat", messages=tuple(msgs), question=question)


def clean_phrase(raw: str) -> str:
    """The first line of the model's output, without a trailing full stop or quotes."""
    line = raw.strip().splitlines()[0] if raw.strip() else ""
    return line.strip().strip("\"'\u201c\u201d").rstrip(" .")


def verify(phrase: str, sentences: Sequence[str], question: str) -> int | None:
    """Index of the first sentence that contains ``phrase`` word for word (normalised), or
    None: too long, empty, only words of the question, or found in no sentence."""
    words = normalize(phrase).split()
    if not words or len(words) > MAX_WORDS:
        return None
    if set(words) <= set(normalize(question).split()):
        return None  # repeats the question: names nothing
    needle = f" {' '.join(words)} "
    for i, sentence in enumerate(sentences):
        if needle in f" {normalize(sentence)} ":
            return i
    return None


def compose(phrase: str, sentence: str, index: int) -> str:
    """``"1889. It was completed in 1889 as … [1]."``: the phrase, then the cited sentence."""
    body = sentence.rstrip(" .!?")
    head = phrase[:1].upper() + phrase[1:]
    return f"{head}. {body} [{index}]."
