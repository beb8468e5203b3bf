"""Splitting extracted text into passages.

``tokens`` mode packs whole sentences into passages of at most
``max_tokens`` tokens (a token here is a word, a punctuation mark, or one character
of a script written without spaces — close to what subword tokenizers count, and
never fewer for Chinese, where BERT-style tokenizers give each character a token;
see :func:`webglm.text.count_tokens`), carrying up to
``overlap_tokens`` of trailing sentences into the next passage. A sentence
longer than the limit is cut at token boundaries. ``webglm-compat`` mode
reproduces WebGLM: one line is one paragraph, lines under ``min_chars`` are
dropped and longer ones cut at ``max_chars``.

Offsets (``start``/``end``) index the input text; passage text is that span
with whitespace runs collapsed. Ids hash the URL and the span, so they are
stable across runs.
"""

from __future__ import annotations

import hashlib
import re
from typing import Iterable, Sequence

from ..config import ChunkConfig
from ..text import count_tokens, sentence_spans, token_spans
from ..types import Passage

__all__ = ["chunk_text", "count_tokens", "dedup_passages", "make_passages", "passage_id", "split_spans"]

_NEAR_DUP_JACCARD = 0.85


def passage_id(url: str, start: int, end: int) -> str:
    """Stable id of the span ``[start, end)`` of the document at ``url``."""
    return hashlib.sha1(f"{url}\0{start}\0{end}".encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _units(text: str, max_tokens: int) -> list[tuple[int, int, int]]:
    """Sentence spans as (start, end, tokens); over-long sentences cut into pieces."""
    units = []
    for start, end in sentence_spans(text):
        toks = token_spans(text, start, end)
        if not toks:
            continue
        for i in range(0, len(toks), max_tokens):
            piece = toks[i : i + max_tokens]
            units.append((piece[0][0], piece[-1][1], len(piece)))
    return units


def _pack(units: list[tuple[int, int, int]], max_tokens: int, overlap: int) -> list[tuple[int, int]]:
    """Greedy packing of units into spans of at most ``max_tokens``, with sentence overlap."""
    spans: list[tuple[int, int]] = []
    current: list[tuple[int, int, int]] = []
    size = 0
    for unit in units:
        if current and size + unit[2] > max_tokens:
            spans.append((current[0][0], current[-1][1]))
            carry: list[tuple[int, int, int]] = []
            kept = 0
            for prev in reversed(current[1:]):  # never carry the whole chunk: progress is guaranteed
                if kept + prev[2] > overlap:
                    break
                carry.insert(0, prev)
                kept += prev[2]
            while carry and kept + unit[2] > max_tokens:
                kept -= carry.pop(0)[2]
            current, size = carry, kept
        current.append(unit)
        size += unit[2]
    if current:
        spans.append((current[0][0], current[-1][1]))
    return spans


def _compat_spans(text: str, config: ChunkConfig) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for line in text.split("\n"):
        stripped = line.strip()
        lead = len(line) - len(line.lstrip())
        if len(stripped) >= config.min_chars:
            start = pos + lead
            spans.append((start, start + min(len(stripped), config.max_chars)))
        pos += len(line) + 1
    return spans


def _shingles(text: str) -> frozenset[str]:
    # words, and single characters of unspaced scripts, so Chinese pages dedup too
    words = [text[s:e].lower() for s, e in token_spans(text) if text[s].isalnum()]
    if len(words) < 3:
        return frozenset([" ".join(words)])
    return frozenset(" ".join(words[i : i + 3]) for i in range(len(words) - 2))


def dedup_every_pair(passages: Iterable[Passage], threshold: float = _NEAR_DUP_JACCARD) -> list[Passage]:
    """The definition :func:`dedup_passages` implements, comparing each passage with every kept
    one (quadratic): the reference its tests and benchmark check it against."""
    kept: list[Passage] = []
    seen: list[frozenset[str]] = []
    exact: set[str] = set()
    for p in passages:
        key = " ".join(re.findall(r"\w+", p.text.lower()))
        if key in exact:
            continue
        sh = _shingles(p.text)
        if any(len(sh & o) >= threshold * len(sh | o) for o in seen):
            continue
        exact.add(key)
        seen.append(sh)
        kept.append(p)
    return kept


def dedup_passages(
    passages: Iterable[Passage], threshold: float = _NEAR_DUP_JACCARD, *, near: bool = True
) -> list[Passage]:
    """Drop exact and (with ``near``) near duplicates, keeping the first copy.

    Near duplicates have a Jaccard similarity of word 3-gram sets >= ``threshold``
    with an earlier kept passage. Only pairs that share a 3-gram among the rarest few
    of each set are compared (prefix filtering, see :class:`_NearIndex`): the result is
    the same as comparing every pair, without the quadratic cost on ordinary text.
    """
    items = list(passages)
    keys = [" ".join(re.findall(r"\w+", p.text.lower())) for p in items]
    shingles = [_shingles(p.text) for p in items] if near else []
    index = _NearIndex(shingles, threshold) if near else None
    kept: list[Passage] = []
    exact: set[str] = set()
    for i, passage in enumerate(items):
        if keys[i] in exact or (index is not None and index.matches(i)):
            continue
        exact.add(keys[i])
        if index is not None:
            index.keep(i)
        kept.append(passage)
    return kept


class _NearIndex:
    """Prefix filter for Jaccard >= t: order each set's 3-grams rarest first (a global
    order); two sets with Jaccard >= t must share one of their first |s| - floor(t*|s|) + 1.
    Kept sets are indexed by that prefix, so a new set is only compared with the kept sets
    that share a prefix 3-gram (exactly, with the original inequality)."""

    def __init__(self, sets: list[frozenset[str]], threshold: float):
        freq: dict[str, int] = {}
        for s in sets:
            for g in s:
                freq[g] = freq.get(g, 0) + 1
        self.sets, self.threshold = sets, threshold
        self.prefixes = [sorted(s, key=lambda g: (freq[g], g))[: len(s) - int(threshold * len(s)) + 1]
                         for s in sets]
        self.postings: dict[str, list[int]] = {}

    def matches(self, i: int) -> bool:
        """Whether set ``i`` is a near duplicate of a kept set."""
        sh, seen = self.sets[i], set()
        for g in self.prefixes[i]:
            for j in self.postings.get(g, ()):
                if j not in seen:
                    seen.add(j)
                    other = self.sets[j]
                    if len(sh & other) >= self.threshold * len(sh | other):
                        return True
        return False

    def keep(self, i: int) -> None:
        for g in self.prefixes[i]:
            self.postings.setdefault(g, []).append(i)


def split_spans(text: str, config: ChunkConfig) -> list[tuple[int, int]]:
    """Character spans of the passages of ``text`` before dedup and capping."""
    if config.mode == "webglm-compat":
        return _compat_spans(text, config)
    return _pack(_units(text, config.max_tokens), config.max_tokens, config.overlap_tokens)


def make_passages(
    text: str, spans: Sequence[tuple[int, int]], *, url: str, title: str, source: str, offset: int = 0
) -> list[Passage]:
    """Build passages for ``spans`` of ``text`` (``offset`` shifts the recorded offsets)."""
    out = []
    for start, end in spans:
        body = " ".join(text[start:end].split())
        if body:
            s, e = start + offset, end + offset
            out.append(
                Passage(
                    id=passage_id(url, s, e), text=body, url=url, title=title, start=s, end=e, source=source
                )
            )
    return out


def chunk_page(
    text: str, *, url: str, title: str, config: ChunkConfig, source: str = "web"
) -> tuple[list[Passage], int]:
    """Passages of ``text`` per ``config`` and how many the ``per_url_cap`` guard cut off.

    The cap is a guard against pathological pages, set far above real pages' passage
    counts: the whole page, tail included, normally reaches ranking, where BM25 scores
    every passage and the dense budget is bounded separately (``rank.dense_budget``).
    """
    passages = make_passages(text, split_spans(text, config), url=url, title=title, source=source)
    if config.dedup:
        passages = dedup_passages(passages)
    return passages[: config.per_url_cap], max(0, len(passages) - config.per_url_cap)


def chunk_text(text: str, *, url: str, title: str, config: ChunkConfig, source: str = "web") -> list[Passage]:
    """Split ``text`` into passages per ``config`` (mode, size, overlap, dedup, per-URL cap)."""
    return chunk_page(text, url=url, title=title, config=config, source=source)[0]
