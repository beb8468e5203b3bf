"""Citation parsing, cleaning and WebGLM-style correction.

The model's ``[n]`` markers are parsed in every common spelling (``[1]``,
``[1][2]``, ``[1, 2]``, ``[1-3]``), indices that name no reference are dropped,
and reasoning blocks (``<think>…</think>``) are removed. Correction follows the
WebGLM paper: each answer sentence is compared with each reference by ROUGE-1
precision with stopwords removed; references scoring at least ``threshold``
(0.75) are cited, and references the model cited itself get a ``bonus`` (0.3).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from ..injection import find_instructions, obeys
from ..types import SentenceSupport

_GROUP = re.compile(r"\[\s*(\d+(?:\s*(?:[-–,]|and)\s*\d+)*)\s*\]")
_THINK = re.compile(r"<think>.*?(</think>|$)", re.S | re.I)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_BOUNDARY = re.compile(r"[.!?](?:[\"')\]]*)((?:\s*\[[\d\s,\-–and]+\])*)(?=\s|$)")
_ENUM = re.compile(r"\(?\d{1,2}[.)]|[a-z][.)]")
MAX_RANGE = 20  # "[1-300]" is not a citation of 300 references
# Sentences in retrieved text that address the model rather than the reader (prompt injection).
# Defence in depth: references are also delimited and the system turn says not to obey them.
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b[^.!?\n]{0,40}\b(?:instructions?|prompts?|rules|directions)\b"
    r"|\b(?:you are now|new instructions?|system prompt|jailbreak)\b"
    r"|\b(?:assistants?|chatbots?|language models?|LLMs?|AI models?)\b[^.!?\n]{0,30}\b(?:must|should|shall)\b"
    r"[^.!?\n]{0,20}\b(?:say|answer|reply|respond|output|print|write)\b",
    re.I)

# Common English function words: they carry no evidence about support.
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not
now of off on once only or other our ours ourselves out over own same she should so some such than that the
their theirs them themselves then there these they this those through to too under until up very was we
were what when where which while who whom why will with would you your yours yourself yourselves also may
might must shall however thus therefore within without via per one two many much well
""".split())


def strip_think(text: str) -> str:
    """Remove ``<think>`` reasoning blocks (closed or left open) of reasoning models."""
    text = _THINK.sub("", text)
    return text.replace("</think>", "").strip()


def drop_instructions(text: str) -> str:
    """Remove sentences that give orders to a language model (``ignore previous
    instructions…``): retrieved text is data, never instructions."""
    if not _INJECTION.search(text):
        return text
    lines = []
    for line in text.splitlines():
        lines.append(" ".join(s for s in split_sentences(line) if not _INJECTION.search(s)))
    return "\n".join(lines).strip()


def parse_group(inner: str) -> list[int]:
    """``"1, 3-4"`` -> ``[1, 3, 4]``; oversized ranges are ignored."""
    out: list[int] = []
    for part in re.split(r"\s*(?:,|and)\s*", inner.strip()):
        if not part:
            continue
        if "-" in part or "–" in part:
            lo_s, hi_s = re.split(r"\s*[-–]\s*", part, maxsplit=1)
            lo, hi = int(lo_s), int(hi_s)
            if lo <= hi and hi - lo < MAX_RANGE:
                out.extend(range(lo, hi + 1))
        else:
            out.append(int(part))
    return out


def find_citations(text: str) -> list[int]:
    """All cited indices in order of appearance (duplicates kept)."""
    return [i for m in _GROUP.finditer(text) for i in parse_group(m.group(1))]


def clean_citations(text: str, valid: set[int] | Sequence[int]) -> str:
    """Rewrite every citation group as ``[a][b]`` keeping only indices in ``valid``."""
    valid = set(valid)

    def repl(m: re.Match) -> str:
        seen: list[int] = []
        for i in parse_group(m.group(1)):
            if i in valid and i not in seen:
                seen.append(i)
        return "".join(f"[{i}]" for i in seen)

    text = _GROUP.sub(repl, text)
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()


def strip_citations(text: str) -> str:
    return re.sub(r"\s+([.,;:!?])", r"\1", _GROUP.sub("", text)).strip()


def stem(word: str) -> str:
    """Strip common English inflections so "carries" matches "carry" (not a full stemmer)."""
    if len(word) <= 4:
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> list[str]:
    """Lower-cased, lightly stemmed words of ``text`` without stopwords or citation marks."""
    return [stem(w) for w in _WORD.findall(strip_citations(text).lower()) if w not in STOPWORDS]


def rouge1_precision(sentence: str, reference: str) -> float:
    """Share of the sentence's content words (with multiplicity) found in the reference."""
    sent = Counter(content_words(sentence))
    total = sum(sent.values())
    if total == 0:
        return 0.0
    ref = Counter(content_words(reference))
    return sum(min(c, ref[w]) for w, c in sent.items()) / total


def split_sentences(text: str) -> list[str]:
    """Split into sentences; citation markers after a full stop stay with their sentence."""
    out: list[str] = []
    for line in text.splitlines():
        start = 0
        for m in _BOUNDARY.finditer(line):
            piece = line[start:m.end()].strip()
            if _ENUM.fullmatch(strip_citations(piece)):
                continue  # "1." of a numbered list starts the sentence, it is not one
            if piece:
                out.append(piece)
            start = m.end()
        rest = line[start:].strip()
        if rest:
            out.append(rest)
    return out


@dataclass(frozen=True, slots=True)
class CitationCheck:
    text: str
    citations: tuple[int, ...]
    support: tuple[SentenceSupport, ...]
    precision: float | None  # share of the model's own valid citations that the check supports
    recall: float | None  # share of supportable sentences that carry a supporting citation


def _place(sentence: str, cites: Sequence[int]) -> str:
    """Attach citation markers before the sentence's final punctuation."""
    body = strip_citations(sentence)
    marks = "".join(f"[{i}]" for i in cites)
    if not marks:
        return body
    m = re.search(r"([.!?][\"')]*)$", body)
    return f"{body[:m.start()]} {marks}{m.group(1)}" if m else f"{body} {marks}"


def check_citations(
    text: str,
    references: dict[int, str],
    *,
    threshold: float = 0.75,
    bonus: float = 0.3,
    correct: bool = True,
    max_per_sentence: int = 3,
) -> CitationCheck:
    """Check (and with ``correct``, re-attach) the citations of ``text``.

    ``references`` maps reference index -> passage text. A citation is
    *supported* when ROUGE-1 precision plus the cited bonus reaches ``threshold``.
    """
    support: list[SentenceSupport] = []
    out_lines: list[str] = []
    own_total = own_ok = supportable = covered = 0
    for line in text.splitlines() or [text]:
        rebuilt = []
        for sentence in split_sentences(line):
            cited = tuple(dict.fromkeys(i for i in find_citations(sentence) if i in references))
            scores = {i: rouge1_precision(sentence, ref) for i, ref in references.items()}
            # fragments ("Here's how:", "```python") carry no claim: nothing supports them, none is flagged
            too_short = len(set(content_words(sentence))) < 2
            ok = [] if too_short else sorted(
                (i for i, s in scores.items() if s + (bonus if i in cited else 0.0) >= threshold),
                key=lambda i: -scores[i])
            own_total += len(cited)
            own_ok += sum(1 for i in cited if i in ok)
            keep = tuple(ok[:max_per_sentence]) if correct else cited
            if ok and not too_short:
                supportable += 1
                covered += bool(set(keep) & set(ok))
            support.append(SentenceSupport(strip_citations(sentence), keep, tuple(ok), not ok and not too_short))
            rebuilt.append(_place(sentence, keep))
        out_lines.append(" ".join(rebuilt))
    final = "\n".join(out_lines).strip()
    cites = tuple(dict.fromkeys(find_citations(final)))
    return CitationCheck(final, cites, tuple(support), own_ok / own_total if own_total else None,
                         covered / supportable if supportable else None)


def withhold_obeying(check: CitationCheck, references: dict[int, str]) -> CitationCheck:
    """Flag, and strip the citations of, answer sentences that follow an instruction found in
    a reference (see :mod:`webglm.injection`): an obeyed order is not a supported claim."""
    orders = {i: found for i, text in references.items() if (found := find_instructions(text))}
    if not orders:
        return check
    every = [o for found in orders.values() for o in found]
    support = list(check.support)
    lines = []
    for line in check.text.splitlines():
        rebuilt = []
        for sentence in split_sentences(line):
            plain = strip_citations(sentence)
            if obeys(plain, every):
                who = tuple(i for i, found in orders.items() if obeys(plain, found)) or tuple(orders)
                k = next((k for k, s in enumerate(support) if s.sentence == plain and not s.obeys), None)
                if k is not None:
                    support[k] = SentenceSupport(plain, (), (), True, who)
                sentence = _place(sentence, ())
            rebuilt.append(sentence)
        lines.append(" ".join(rebuilt))
    final = "\n".join(lines).strip()
    return CitationCheck(final, tuple(dict.fromkeys(find_citations(final))), tuple(support),
                         check.precision, check.recall)


def dedupe_sentences(text: str, threshold: float = 0.8) -> str:
    """Drop sentences that repeat an earlier one (content-word Jaccard >= threshold):
    small models loop, and a repeated claim adds nothing."""
    seen: list[set[str]] = []
    lines = []
    for line in text.splitlines():
        kept = []
        for sentence in split_sentences(line):
            words = set(content_words(sentence))
            if words and any(len(words & s) / len(words | s) >= threshold for s in seen):
                continue
            seen.append(words)
            kept.append(sentence)
        if kept or not line.strip():
            lines.append(" ".join(kept))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def drop_unfinished(text: str) -> str:
    """Remove a trailing sentence cut off by the token limit (keeps at least one sentence)."""
    sentences = split_sentences(text)
    if len(sentences) > 1 and not re.search(r"[.!?][\"')\]]*$", strip_citations(sentences[-1])):
        cut = text.rfind(sentences[-1])
        return text[:cut].rstrip()
    return text


_CODE = re.compile(r"```|\w\(|\)\s*$|\s=\s|^\s*(?:from|import)\s|[{}]")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$|\|.*\|.*\|")  # Markdown table rows read badly as prose


def _plain(sentence: str) -> str:
    """Drop Markdown list markers and emphasis so a quoted sentence reads as prose."""
    sentence = re.sub(r"^\s*(?:#{1,6}|[*\-+]|\d+[.)])\s+", "", sentence)
    return sentence.replace("**", "").strip()


def pick_sentences(question: str, references: Sequence[tuple[int, str]], max_sentences: int = 2,
                   skip: int = 0, min_words: int = 3) -> list[tuple[int, str]]:
    """``(reference index, sentence)`` pairs sharing the most content words with the question,
    statements before questions and prose before code, in reading order; ``skip`` moves down
    the ranking (for alternatives)."""
    q = set(content_words(question))
    scored = []
    for rank, (idx, text) in enumerate(references):
        asked = 0  # overlap of the question sentence just before, if the reference asked one
        for pos, sent in enumerate(split_sentences(text)):
            if _INJECTION.search(sent):
                asked = 0
                continue  # never quote orders aimed at the model
            words = content_words(sent)
            overlap = len(q & set(words))
            # a question the reference asks (a heading, an FAQ entry, a rhetorical opener)
            # states nothing; the statement after it is its answer and inherits its match
            asks = sent.rstrip(" …\"')*").endswith("?")
            if not asks:
                overlap, asked = max(overlap, asked), 0
            else:
                asked = overlap
            if overlap and len(words) >= min_words:
                # quoted code and table rows read badly as an answer: prose first
                code = bool(_CODE.search(sent) or _TABLE_ROW.search(sent))
                scored.append((asks, code, -overlap, rank, pos, idx, _plain(strip_citations(sent)).rstrip(" …")))
    scored.sort()
    picked = scored[skip:skip + max_sentences] or scored[:max_sentences]
    return [(idx, sent) for *_k, idx, sent in sorted(picked, key=lambda x: (x[3], x[4]))]


def extractive_answer(question: str, references: Sequence[tuple[int, str]], max_sentences: int = 2,
                      skip: int = 0) -> str:
    """The reference sentences sharing the most content words with the question, each cited."""
    picked = pick_sentences(question, references, max_sentences, skip)
    if not picked:
        return "The references do not answer this question."
    return " ".join(f"{sent.rstrip('.!?')} [{idx}]." for idx, sent in picked)
