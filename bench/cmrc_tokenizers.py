"""Benchmark: BM25 tokenisers on CMRC 2018 with whole paragraphs as documents.

Usage::

    python bench/cmrc_tokenizers.py PATH/TO/cmrc2018_dev.json \
        [--tokenizers regex,unigram,bigram,bigram+unigram,jieba,jieba-nostop]

Each paragraph of the file is one document of :class:`webglm.contriever.lexical.BM25Index`,
built with ``lexical.tokenize`` swapped for the tokeniser under test; every question is a
query, and hit@5 is the share of questions whose own paragraph is among the five best
scores. Reported per tokeniser: hit@5, the time to index all paragraphs and the mean time
per query (scoring plus top-5). Tokenisers:

- ``regex``: lower-cased ``[^\\W_]+`` runs without English stopwords, plural strip included
  (the tokenisation before ``webglm.text``: a Chinese sentence is one token);
- ``unigram``: ``webglm.text.tokenize`` with CJK runs split into single characters;
- ``bigram``: ``webglm.text.tokenize`` as shipped (overlapping character bigrams);
- ``bigram+unigram``: both of the above for CJK runs;
- ``jieba`` / ``jieba-nostop``: ``jieba.cut_for_search`` words, with or without the Chinese
  and English stopwords of ``webglm.text.stopwords`` (needs ``pip install jieba``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webglm import text  # noqa: E402
from webglm.contriever import lexical  # noqa: E402

_OLD_WORD = re.compile(r"[^\W_]+")
_CJK_RUN = re.compile(f"[{text._HAN}{text._KANA}{text._HANGUL}]+")
_EN = text.stopwords("en")


def regex_terms(s: str) -> list[str]:
    """The old tokenisation (before ``webglm.text``): lower-cased ``[^\\W_]+`` words without
    English stopwords, with the same light plural strip."""
    out = []
    for word in _OLD_WORD.findall(s.lower()):
        if word in _EN:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return out


def _with_cjk(units: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
    """``text.tokenize`` for non-CJK text, ``units(run)`` for each CJK run."""
    def terms(s: str) -> list[str]:
        out: list[str] = []
        pos = 0
        for m in _CJK_RUN.finditer(s.lower()):
            out.extend(text.tokenize(s.lower()[pos:m.start()]))
            out.extend(units(m.group()))
            pos = m.end()
        out.extend(text.tokenize(s.lower()[pos:]))
        return out
    return terms


def _jieba(stop: bool) -> Callable[[str], list[str]]:
    import jieba

    jieba.setLogLevel(60)
    jieba.initialize()
    drop = text.stopwords("zh") | _EN if stop else frozenset()

    def terms(s: str) -> list[str]:
        words = (w.strip().lower() for w in jieba.cut_for_search(s))
        return [w for w in words if w and re.search(r"\w", w) and w not in drop]
    return terms


def _pairs(run: str) -> list[str]:
    return [run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)]


def tokenizer(name: str) -> Callable[[str], list[str]]:
    """The tokeniser called ``name`` (see the module docstring)."""
    makers: dict[str, Callable[[], Callable[[str], list[str]]]] = {
        "regex": lambda: regex_terms,
        "unigram": lambda: _with_cjk(list),
        "bigram": lambda: text.tokenize,
        "bigram+unigram": lambda: _with_cjk(lambda run: _pairs(run) + (list(run) if len(run) > 1 else [])),
        "jieba": lambda: _jieba(True),
        "jieba-nostop": lambda: _jieba(False),
    }
    if name not in makers:
        sys.exit(f"unknown tokeniser {name!r}: choose from {', '.join(makers)}")
    return makers[name]()


def load(path: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """Paragraph texts and (question, paragraph number) pairs of a SQuAD-format file."""
    paragraphs: list[str] = []
    questions: list[tuple[str, int]] = []
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                questions.append((qa["question"], len(paragraphs)))
            paragraphs.append(para["context"])
    return paragraphs, questions


def measure(name: str, paragraphs: list[str], questions: list[tuple[str, int]]) -> dict:
    """hit@5, index time and per-query time of one tokeniser."""
    terms = tokenizer(name)
    original = lexical.tokenize
    lexical.tokenize = terms  # BM25Index looks the name up in its module at call time
    try:
        index = lexical.BM25Index()
        t0 = time.perf_counter()
        index.add(paragraphs)
        indexed = time.perf_counter() - t0
        hits = 0
        t0 = time.perf_counter()
        for question, gold in questions:
            scores = index.scores(question)
            hits += gold in np.argsort(-scores, kind="stable")[:5]
        per_query = (time.perf_counter() - t0) / len(questions)
    finally:
        lexical.tokenize = original
    return {"tokenizer": name, "hit@5": round(hits / len(questions), 3),
            "index_s": round(indexed, 2), "per_query_ms": round(per_query * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path, help="CMRC 2018 dev (SQuAD format)")
    parser.add_argument("--tokenizers", default="regex,unigram,bigram,bigram+unigram,jieba,jieba-nostop",
                        help="comma-separated tokenisers to compare (default: all six)")
    args = parser.parse_args()
    if not args.dataset.is_file():
        sys.exit(f"{args.dataset}: no such file; pass the CMRC 2018 dev JSON")
    paragraphs, questions = load(args.dataset)
    print(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                      "load": round(os.getloadavg()[0], 1), "paragraphs": len(paragraphs),
                      "questions": len(questions)}), flush=True)
    for name in args.tokenizers.split(","):
        print(json.dumps(measure(name.strip(), paragraphs, questions)), flush=True)


if __name__ == "__main__":
    main()
