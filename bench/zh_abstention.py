"""Abstention threshold for questions the encoder does not cover (Chinese with MiniLM).

    PYTHONPATH=. python bench/zh_abstention.py ../shared/data/zh/cmrc2018_dev.json [--sample 400]

For a question in a language the encoder was not trained on, the ranker orders by BM25
alone; the dense similarity is noise (MiniLM gives any two Chinese texts a cosine near 0.5),
so a fused score never falls below ``rank.min_score`` and nothing abstains. This measures
the best normalised BM25 score (what ``rank.min_lexical_score`` compares) for answerable
and unanswerable Chinese questions:

* the CMRC 2018 articles are split in two halves by a hash of their title; the corpus is
  the paragraphs of half A, chunked and indexed as ``webglm ask --corpus`` does;
* on-topic: questions about half A (their paragraph is in the corpus);
* off-topic: questions about half B (no paragraph of their article is in the corpus).

``--full`` also scores every question against the corpus of all paragraphs (the setting
of ``webglm eval --format squad``): the share that would abstain bounds what the threshold
can cost hit@5 and containment there.

BM25 does not depend on the encoder, so the index is built with the hash encoder (fast);
the threshold applies to the default MiniLM pipeline unchanged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _half(title: str) -> str:
    return "A" if hashlib.sha1(title.encode("utf-8")).digest()[0] % 2 == 0 else "B"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--sample", type=int, default=400, help="questions per side")
    ap.add_argument("--full", action="store_true", help="also every question over all paragraphs")
    ap.add_argument("--thresholds", default="0.15,0.2,0.25,0.3,0.35,0.4")
    args = ap.parse_args()
    from webglm.config import load_config
    from webglm.contriever import make_encoder
    from webglm.corpus import open_corpus
    from webglm.eval.squad import load_squad, squad_corpus

    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        files = squad_corpus(args.data, tmp)
        half = {f.name: _half(f.read_text(encoding="utf-8").splitlines()[0]) for f in files.glob("*.md")}
        corpus = Path(tmp) / "A"
        corpus.mkdir()
        for name, side in half.items():
            if side == "A":
                shutil.copy(files / name, corpus / name)
        cfg = load_config(overrides={"rank.encoder": "hash", "cache_dir": str(Path(tmp) / "cache")})
        index = open_corpus(corpus, make_encoder(cfg.rank), cfg).index
        examples = load_squad(args.data).examples
        sides = {s: [e for e in examples if half[e.meta["gold_sources"][0]] == s] for s in "AB"}
        rng = random.Random(0)
        best = {}
        for s, name in (("A", "on_topic"), ("B", "off_topic")):
            chosen = rng.sample(sides[s], min(args.sample, len(sides[s])))
            best[name] = np.array([float(index.lexical.scores(e.question).max()) for e in chosen])
        if args.full:
            full = open_corpus(files, make_encoder(cfg.rank), cfg).index
            best["full_corpus"] = np.array([float(full.lexical.scores(e.question).max()) for e in examples])
    out = {"passages": len(index), "questions_per_side": {k: len(v) for k, v in best.items()},
           "percentiles_5_25_50_75_95": {k: [round(float(x), 3) for x in np.percentile(v, [5, 25, 50, 75, 95])]
                                         for k, v in best.items()}, "thresholds": {}}
    for t in (float(x) for x in args.thresholds.split(",")):
        out["thresholds"][str(t)] = {"on_topic_answered": round(float(np.mean(best["on_topic"] >= t)), 3),
                                     "off_topic_abstained": round(float(np.mean(best["off_topic"] < t)), 3),
                                     **({"full_corpus_abstained": round(float(np.mean(best["full_corpus"] < t)), 3)}
                                        if args.full else {})}
    grid = np.round(np.arange(0.05, 0.6, 0.005), 3)
    gap = [abs(np.mean(best["on_topic"] >= t) - np.mean(best["off_topic"] < t)) for t in grid]
    out["passages_full"] = len(full) if args.full else None
    out["equal_error_threshold"] = float(grid[int(np.argmin(gap))])
    out["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
