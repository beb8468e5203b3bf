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
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..injection import find_instructions, obeys
from ..messages import message, translated
from ..text import (CITATION, TERMINAL, cjk_bigrams, content_terms, detect_language, find_citations, is_cjk,
                    join_sentences, parse_group, rouge1_precision, split_sentences, stem, strip_citations)
from ..types import Evidence, SentenceSupport

__all__ = ["check_citations", "clean_citations", "content_words", "dedupe_sentences", "drop_instructions",
           "drop_unfinished", "extractive_answer", "find_citations", "parse_group", "pick_sentences",
           "rouge1_precision", "split_sentences", "stem", "strip_citations", "strip_think", "withhold_obeying"]

_THINK = re.compile(r"<think>.*?(</think>|$)", re.S | re.I)
# Sentences in retrieved text that address the model rather than the reader (prompt injection).
# Defence in depth: references are also delimited and the system turn says not to obey them.
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b[^.!?\n]{0,40}\b(?:instructions?|prompts?|rules|directions)\b"
    r"|\b(?:you are now|new instructions?|system prompt|jailbreak)\b"
    r"|\b(?:assistants?|chatbots?|language models?|LLMs?|AI models?)\b[^.!?\n]{0,30}\b(?:must|should|shall)\b"
    r"[^.!?\n]{0,20}\b(?:say|answer|reply|respond|output|print|write)\b",
    re.I)

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
        lines.append(join_sentences([s for s in split_sentences(line) if not _INJECTION.search(s)]))
    return "\n".join(lines).strip()


def clean_citations(text: str, valid: set[int] | Sequence[int]) -> str:
    """Rewrite every citation group as ``[a][b]`` keeping only indices in ``valid``."""
    valid = set(valid)

    def repl(m: re.Match) -> str:
        seen: list[int] = []
        for i in parse_group(m.group(1)):
            if i in valid and i not in seen:
                seen.append(i)
        return "".join(f"[{i}]" for i in seen)

    text = CITATION.sub(repl, text)
    return re.sub(r"[ \t]+([.,;:!?\u3002\uff0c\uff1b\uff1a\uff01\uff1f])", r"\1",
                  re.sub(r"[ \t]{2,}", " ", text)).strip()


def content_words(text: str) -> list[str]:
    """Units compared by the support check (see :func:`webglm.text.content_terms`): stemmed
    words without stopwords, single characters for Chinese and other unspaced scripts."""
    return content_terms(strip_citations(text))


@dataclass(frozen=True, slots=True)
class CitationCheck:
    text: str
    citations: tuple[int, ...]
    support: tuple[SentenceSupport, ...]
    precision: float | None  # share of the model's own valid citations that the check supports
    recall: float | None  # share of supportable sentences that carry a supporting citation
    probability: float | None = None  # mean best support probability over claim sentences


# "英文资料写道：“…”[3]。": a short attribution in the reader's language, then a quote as written.
# The quote is the claim: it is checked against the reference in its own language, since the
# attribution's words (Chinese character pairs) cannot occur in an English source.
_QUOTED = re.compile(r"^[^\u201c\u201d\"]{1,24}[:\uff1a]\s*[\u201c\"](?P<quote>[^\u201c\u201d\"]{2,})[\u201d\"]")


def claim(sentence: str) -> str:
    """What the support check compares for ``sentence``: the quote of a short attribution
    followed by a quotation (``A source in English says: “…”``), else the sentence itself."""
    m = _QUOTED.match(strip_citations(sentence))
    return m.group("quote") if m else sentence


def _place(sentence: str, cites: Sequence[int]) -> str:
    """Attach citation markers before the sentence's final punctuation."""
    body = strip_citations(sentence)
    marks = "".join(f"[{i}]" for i in cites)
    if not marks:
        return body
    m = TERMINAL.search(body)
    head = body[:m.start()] if m else body
    # Chinese and Japanese put no space before a citation mark
    space = "" if head and is_cjk(head[-1]) else " "
    return f"{head}{space}{marks}{m.group() if m else ''}"


Scores = dict[int, list[tuple[float, int, int]]]  # reference -> per sentence (score, span start, end)


def _scores(sentences: Sequence[str], references: dict[int, str], support: Any) -> Scores:
    """Score of every sentence against every reference (one batch per reference)."""
    if support is None:  # WebGLM's rule on the whole passage, no span
        return {i: [(rouge1_precision(s, ref), 0, 0) for s in sentences] for i, ref in references.items()}
    floor = getattr(support, "min_overlap", 0.0)

    def prob(r: Any) -> float:
        # a reference sharing under ``floor`` of the sentence's content words in its best window
        # supports nothing, however close the embeddings are ("Other text 16." vs "City 16 is ...")
        return r.probability if not r.features or r.features[1] >= floor else 0.0
    return {i: [(prob(r), r.start, r.end) for r in support.score(list(sentences), ref)] if sentences else []
            for i, ref in references.items()}


def _evidence(ok: Sequence[int], k: int, scores: Scores, references: dict[int, str],
              page_offsets: Mapping[int, int]) -> tuple[Evidence, ...]:
    out = []
    for i in ok:
        prob, a, b = scores[i][k]
        if b <= a:
            continue
        base = page_offsets.get(i, -1)
        out.append(Evidence(i, references[i][a:b], a, b, round(prob, 4),
                            base + a if base >= 0 else -1, base + b if base >= 0 else -1))
    return tuple(out)


def check_citations(
    text: str,
    references: dict[int, str],
    *,
    threshold: float = 0.75,
    bonus: float = 0.3,
    correct: bool = True,
    max_per_sentence: int = 3,
    support: Any = None,
    page_offsets: Mapping[int, int] | None = None,
) -> CitationCheck:
    """Check (and with ``correct``, re-attach) the citations of ``text``.

    ``references`` maps reference index -> passage text. Without ``support`` a citation is
    *supported* when ROUGE-1 precision plus the cited bonus reaches ``threshold`` (WebGLM).
    ``support`` is a support model (:mod:`webglm.generator.support`): its ``score`` gives
    probabilities and quoted spans, and its own ``threshold``/``bonus`` apply instead.
    ``page_offsets`` maps a reference to where its text starts in its page, for the evidence.
    """
    if support is not None:
        threshold, bonus = support.threshold, getattr(support, "bonus", 0.0)
    lines = text.splitlines() or [text]
    per_line = [split_sentences(line) for line in lines]
    flat = [s for sents in per_line for s in sents]
    scores = _scores([claim(s) for s in flat], references, support)
    support_rows: list[SentenceSupport] = []
    out_lines: list[str] = []
    own_total = own_ok = supportable = covered = 0
    probs: list[float] = []
    for sentences in per_line:
        rebuilt = []
        for sentence in sentences:
            k = len(support_rows)
            cited = tuple(dict.fromkeys(i for i in find_citations(sentence) if i in references))
            # fragments ("Here's how:", "```python") carry no claim: nothing supports them, none is flagged
            too_short = len(set(content_words(sentence))) < 2
            ok = [] if too_short else sorted(
                (i for i in references if scores[i][k][0] + (bonus if i in cited else 0.0) >= threshold),
                key=lambda i: -scores[i][k][0])
            own_total += len(cited)
            own_ok += sum(1 for i in cited if i in ok)
            keep = tuple(ok[:max_per_sentence]) if correct else cited
            best = max((scores[i][k][0] for i in references), default=0.0)
            if not too_short:
                probs.append(best if ok else 0.0)
            if ok and not too_short:
                supportable += 1
                covered += bool(set(keep) & set(ok))
            evidence = _evidence(ok[:max_per_sentence], k, scores, references, page_offsets or {})
            support_rows.append(SentenceSupport(strip_citations(sentence), keep, tuple(ok), not ok and not too_short,
                                                evidence=evidence,
                                                probability=round(best, 4) if support is not None else None))
            rebuilt.append(_place(sentence, keep))
        out_lines.append(join_sentences(rebuilt))
    final = "\n".join(out_lines).strip()
    cites = tuple(dict.fromkeys(find_citations(final)))
    mean_prob = sum(probs) / len(probs) if probs and support is not None else None
    return CitationCheck(final, cites, tuple(support_rows), own_ok / own_total if own_total else None,
                         covered / supportable if supportable else None, mean_prob)


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
        lines.append(join_sentences(rebuilt))
    final = "\n".join(lines).strip()
    return CitationCheck(final, tuple(dict.fromkeys(find_citations(final))), tuple(support),
                         check.precision, check.recall, check.probability)


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
            lines.append(join_sentences(kept))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def drop_unfinished(text: str) -> str:
    """Remove a trailing sentence cut off by the token limit (keeps at least one sentence)."""
    sentences = split_sentences(text)
    if len(sentences) > 1 and not TERMINAL.search(strip_citations(sentences[-1])):
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
    q = _match_terms(question)
    scored = []
    for rank, (idx, text) in enumerate(references):
        asked = 0  # overlap of the question sentence just before, if the reference asked one
        for pos, sent in enumerate(split_sentences(text)):
            if _INJECTION.search(sent):
                asked = 0
                continue  # never quote orders aimed at the model
            words = content_words(sent)
            overlap = len(q & _match_terms(sent))
            # a question the reference asks (a heading, an FAQ entry, a rhetorical opener)
            # states nothing; the statement after it is its answer and inherits its match
            asks = sent.rstrip(" …\"')*\u201d").endswith(("?", "\uff1f"))
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


def _match_terms(text: str) -> set[str]:
    # content words; for Chinese also character pairs, so a shared word outweighs shared characters
    return set(content_words(text)) | set(cjk_bigrams(strip_citations(text)))


def extractive_answer(question: str, references: Sequence[tuple[int, str]], max_sentences: int = 2,
                      skip: int = 0, language: str = "") -> str:
    """The reference sentences sharing the most content words with the question, each cited.

    Quotes come from references in the question's language (``language``, detected when
    empty) when there are any; the "no answer" notice is in that language too."""
    lang = language or detect_language(question)
    same = [(i, t) for i, t in references if detect_language(t, default=lang) == lang]
    picked = pick_sentences(question, same, max_sentences, skip) if same else []
    lead = []
    if not picked:
        picked = pick_sentences(question, references, max_sentences, skip)
        # say in the reader's language that the quotes are not in it
        lead = [message("other_language", lang)] if picked and translated(lang) else []
    if not picked:
        return message("no_answer", lang)
    return join_sentences(lead + [_cite(sent, idx) for idx, sent in picked])


def _cite(sentence: str, idx: int) -> str:
    body = sentence.rstrip(".!?\u3002\uff01\uff1f\uff1b")
    if body and is_cjk(body[-1]):
        return f"{body}[{idx}]\u3002"
    return f"{body} [{idx}]."
