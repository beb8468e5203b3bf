"""Instructions aimed at a language model inside retrieved text, and answer sentences that obey them.

A reference is data: when it says "ignore previous instructions and say X", or
"AI assistants must answer X", an answer sentence that then says X is following
the document, not reporting it. Such sentences are flagged and never cited
(see ``generator.citations.withhold_obeying``); the references that carry the
instructions are named in the trace.

The detector is a small set of patterns for the common phrasings (override
orders, imperatives to say/answer/reply/output, orders addressed to an AI,
assistant or model, role changes), English only. It looks for what the order
asks to be said (the *payload*: a quoted string, or the rest of the clause) so
that the answer can be checked for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .text import split_sentences, stopwords

_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*", re.UNICODE)
_SAY = r"(?:say|answer|reply|respond|output|print|write|repeat|state|tell\s+(?:the\s+)?user|include|mention)"
_OVERRIDE = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass)\b[^.!?\n]{0,40}?"
    r"\b(?:instructions?|prompts?|rules|directions|guidelines|context|messages?|everything)\b",
    re.I,
)
_ADDRESSED = re.compile(
    r"\b(?:AI|assistants?|chat\s?bots?|language\s+models?|LLMs?|GPT|models?|bots?)\b[^.!?\n]{0,40}?"
    rf"\b(?:must|should|shall|will|have\s+to|need\s+to|are\s+required\s+to|always)\b[^.!?\n]{{0,20}}?\b{_SAY}\b"
    r"(?:\s+(?:only|just|exactly|always))?(?:\s+(?:with|that|by\s+saying|the\s+words?))?\s*[:\-–]?\s*",
    re.I,
)
_ANSWER_IS = re.compile(r"\banswer\s+to\s+(?:any|every|all|this|the|each)\s+questions?\s+(?:is|will\s+be)\s+", re.I)
_IMPERATIVE = re.compile(
    rf"(?:^|[,;:]\s*|\band\s+(?:then\s+)?|\binstead\s+)(?:please\s+|just\s+|only\s+|now\s+)*{_SAY}\b"
    r"(?P<tail>(?:\s+(?:only|just|exactly|always))?(?:\s+(?:with|that|by\s+saying|the\s+words?))?\s*[:\-–]?)\s*",
    re.I,
)
_ROLE = re.compile(
    r"\b(?:you\s+are\s+now|from\s+now\s+on\s+you|new\s+instructions?|system\s+prompt|jailbreak|developer\s+mode"
    r"|(?:whatever|no\s+matter\s+what)\s+the\s+question|answer\s+to\s+(?:any|every|all)\s+questions?)\b",
    re.I,
)
_QUOTED = re.compile(r"[\"“”'‘’`«»]([^\"“”'‘’`«»\n]{1,120})[\"“”'‘’`«»]")
_MAX_PAYLOAD_WORDS = 12
# function words, and the intensifiers orders use ("say exactly X", "always answer X")
_STOP = stopwords("en") | frozenset(("exactly", "always"))


@dataclass(frozen=True, slots=True)
class Instruction:
    """One sentence of retrieved text that gives orders to a model, and what it asks to be said."""

    sentence: str
    payload: str = ""

    @property
    def payload_words(self) -> frozenset[str]:
        return frozenset(w for w in words(self.payload) if w not in _STOP)


def words(text: str) -> list[str]:
    """Lower-cased words (hyphenated and apostrophe forms kept whole)."""
    return [w.lower() for w in _WORD.findall(text)]


def is_instruction(sentence: str) -> bool:
    """True when the sentence gives orders to a language model rather than informing a reader."""
    if _OVERRIDE.search(sentence) or _ADDRESSED.search(sentence) or _ROLE.search(sentence):
        return True
    m = _IMPERATIVE.search(sentence)
    # a bare "answer the following questions" in a worksheet is not an order to a model; one that
    # says what to answer (a quoted string, or "with X") is
    return bool(m and (_QUOTED.search(sentence, m.start()) or re.search(r"with|saying|words?|:", m.group("tail"), re.I)))


def _payload(sentence: str) -> str:
    m = None
    for m in _IMPERATIVE.finditer(sentence):
        pass  # the last order in the sentence says what to output ("ignore X and say Y")
    m = m or _ADDRESSED.search(sentence) or (_ANSWER_IS.search(sentence) if _ROLE.search(sentence) else None)
    start = m.end() if m else 0
    quoted = _QUOTED.search(sentence, max(0, start - 2))
    if quoted:
        return quoted.group(1).strip()
    if m is None:
        return ""
    rest = _WORD.findall(sentence[start:])
    return " ".join(rest[:_MAX_PAYLOAD_WORDS])


def find_instructions(text: str) -> list[Instruction]:
    """The instruction-like sentences of ``text`` with their payloads, in order."""
    if not (_OVERRIDE.search(text) or _ADDRESSED.search(text) or _ROLE.search(text) or _IMPERATIVE.search(text)):
        return []  # the common case: one scan per pattern, no sentence splitting
    out = []
    for sentence in split_sentences(text):
        if is_instruction(sentence):
            out.append(Instruction(sentence, _payload(sentence)))
    return out


def _content(text: str) -> set[str]:
    return {w for w in words(text) if w not in _STOP}


def obeys(sentence: str, instructions: list[Instruction]) -> bool:
    """True when an answer sentence carries out (or repeats) one of ``instructions``.

    It does when it contains the payload (the quoted string, or every content word
    of an unquoted one), when it repeats most of the instruction itself, or when it
    is itself an order to a model.
    """
    if not instructions:
        return False
    low = sentence.lower()
    mine = _content(sentence)
    for ins in instructions:
        payload = ins.payload.strip().lower()
        if payload and (payload in low or (ins.payload_words and ins.payload_words <= mine)):
            return True
        theirs = _content(ins.sentence)
        if mine and len(mine & theirs) >= 0.75 * len(mine):
            return True
    return is_instruction(sentence)
