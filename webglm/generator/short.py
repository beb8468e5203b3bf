"""Short answers to fact questions: the model names the fact, a quoted sentence proves it.

A 135M model asked to write two cited sentences from five references mixes them up, and a
fluent wrong sentence shares enough words with some reference to pass a support check
(docs/benchmarks.md, "Quality on public benchmarks"). For questions that ask for a date, a
number or a name, the answer is instead built in three steps:

1. the reference sentences most likely to hold the answer are picked by the measured
   criterion of :mod:`webglm.generator.extractive` (dense similarity, answer-type cue, rank);
2. the model is shown only those sentences and asked for the answer as a short phrase
   copied from them (a few tokens: cheap, and hard to get fluently wrong);
3. the longest run of the model's words that occurs, word for word after normalisation, in
   one of the picked sentences and adds something the question does not say is the answer;
   it is shown followed by that sentence, cited. Otherwise the caller quotes the sentences.
"""

from __future__ import annotations

import re
import string
from typing import Sequence

from .extractive import _MONTH, _NUMBER, _YEAR, answer_type
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
# words that carry no answer on their own: a run made only of these and the question's words names nothing
_FILLER = frozenset("""is was are were be been being of in on at by for to from with and or as it its that
this which who whom when where what how he she they his her their there has have had did does do not""".split())
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
    """The first sentence of the model's output, without a trailing full stop or quotes."""
    line = raw.strip().splitlines()[0] if raw.strip() else ""
    line = re.split(r"(?<=[^\s.]{2}[.!?])\s", line, maxsplit=1)[0]  # its first sentence
    return line.strip().strip("\"'\u201c\u201d").rstrip(" .")


def _found(words: Sequence[str], sentences: Sequence[str]) -> int | None:
    needle = f" {' '.join(words)} "
    return next((i for i, s in enumerate(sentences) if needle in f" {normalize(s)} "), None)


def verify(phrase: str, sentences: Sequence[str], question: str) -> tuple[str, int] | None:
    """The part of the model's output that a picked sentence contains word for word, and that
    sentence's position; None when no such part names anything beyond the question's words.

    Small models often answer in a sentence ("The song was sung by Matt Monro."): the
    longest run of its words found in a sentence is taken, trimmed of words the question
    already has ("Matt Monro"). A phrase of more than :data:`MAX_WORDS` words is refused."""
    words = normalize(phrase).split()
    asked = set(normalize(question).split()) | _FILLER
    best: tuple[int, int, int, int] | None = None  # (new words, -length, start, sentence)
    for a in range(len(words)):
        for b in range(a + 1, min(len(words), a + MAX_WORDS) + 1):
            at = _found(words[a:b], sentences)
            if at is None:
                break  # a longer run from ``a`` cannot be found either
            new = sum(1 for w in words[a:b] if w not in asked)
            if new and (best is None or (new, a - b) > best[:2]):
                best = (new, a - b, a, at)
    # the run must carry at least half of what the output claims beyond the question:
    # "1 September 2017" is not confirmed by a sentence that only shares "September"
    if best is None or best[0] * 2 < sum(1 for w in words if w not in asked):
        return None
    start, end = best[2], best[2] - best[1]
    if any(any(c.isdigit() for c in w) for w in words[:start] + words[end:] if w not in asked):
        return None  # a number outside the confirmed run ("15 April 1913" vs "15 April 1912")
    while words[start] in asked:
        start += 1
    while words[end - 1] in asked:
        end -= 1
    return " ".join(words[start:end]), best[3]


def _literal(word: str) -> str:
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def span_grammar(sentences: Sequence[str]) -> str:
    """A GBNF grammar whose strings are the runs of consecutive words of ``sentences``.

    Rule ``wI`` is word I followed, optionally, by ``wI+1``'s rule, so the grammar is linear
    in the number of words and the decoder can stop after any word; the root is any word
    of any sentence as a start. Punctuation at word ends is left out ("1912," -> "1912")."""
    rules, starts, n = [], [], 0
    for sentence in sentences:
        words = [w for w in (t.strip(",.;:!?()\"'“”") for t in sentence.split()) if w]
        for i, word in enumerate(words):
            more = f' (" " w{n + 1})?' if i + 1 < len(words) else ""
            rules.append(f"w{n} ::= {_literal(word)}{more}")
            starts.append(f"w{n}")
            n += 1
    if not starts:
        return ""
    return "root ::= " + " | ".join(starts) + "\n" + "\n".join(rules) + "\n"


def agree(first: str, second: str) -> bool:
    """Whether two verified phrases name the same thing: one's words run inside the other's."""
    a, b = f" {normalize(first)} ", f" {normalize(second)} "
    return bool(a.strip() and b.strip()) and (a in b or b in a)


def original_case(phrase: str, sentence: str) -> str:
    """``phrase`` (normalised words) as the sentence writes it, when it can be found there."""
    # normalisation dropped punctuation and articles: allow them back between the words
    pattern = r"\W+(?:(?:a|an|the)\W+)*".join(re.escape(w) for w in phrase.split())
    m = re.search(rf"(?<!\w){pattern}(?!\w)", sentence, re.I)
    return m.group() if m else phrase


def fits(kind: str, phrase: str) -> bool:
    """Whether ``phrase`` (as the sentence writes it) is of the kind the question asks for:
    a year, month or century for ``date``, a number for ``number``, a capitalised name
    without digits for ``name``. A "when" question answered with a title is refused."""
    if kind == "date":
        return bool(_YEAR.search(phrase) or _MONTH.search(phrase) or re.search(r"\bcentury\b|\b\d{1,4}\b", phrase))
    if kind == "number":
        return bool(_NUMBER.search(phrase))
    if kind == "name":
        return not re.search(r"\d", phrase) and bool(re.search(r"\b[A-Z]", phrase))
    return True


def compose(phrase: str, sentence: str, index: int) -> str:
    """``"1889. It was completed in 1889 as … [1]."``: the phrase, then the cited sentence."""
    body = sentence.rstrip(" .!?")
    phrase = original_case(phrase, sentence)
    head = phrase[:1].upper() + phrase[1:]
    return f"{head}. {body} [{index}]."
