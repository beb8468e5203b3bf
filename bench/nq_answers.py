"""Which reference sentences should the extractive answer quote? Measured on NQ-open oracle.

For a slice of questions, the references come from the real corpus ranking (all passages of
the file, as ``webglm eval --format nq-oracle`` builds them); each picker quotes sentences and
the quote is scored by normalised containment of a gold answer. No generator runs, so the
comparison is fast and isolates the picker. Tune on one slice, report on another:

    python bench/nq_answers.py DATA.jsonl.gz --offset 0 --limit 200          # tuning slice
    python bench/nq_answers.py DATA.jsonl.gz --offset 1000 --limit 300       # held out
"""

from __future__ import annotations

import argparse
import itertools
import time

from webglm.config import WebGLMConfig
from webglm.contriever import CorpusIndex, make_encoder
from webglm.eval.datasets import load_dataset
from webglm.eval.metrics import contains
from webglm.eval.nq_oracle import build_oracle_corpus
from webglm.generator.citations import pick_sentences
from webglm.generator.extractive import PickWeights, pick_dense
from webglm.generator.prompts import prose


def references(path, offset, limit, cfg, encoder):
    full = load_dataset(path, "nq-oracle")
    index = CorpusIndex.load(build_oracle_corpus(full, encoder, cfg), encoder)
    out = []
    for ex in full.examples[offset:offset + limit]:
        refs = index.rank(ex.question, cfg.rank).references
        out.append((ex, [(r.index, prose(r.passage.text, r.passage.title)) for r in refs]))
    return out


def score(items, pick) -> float:
    hits = [contains(" ".join(s for _, s in pick(ex.question, refs)), ex.answers) for ex, refs in items]
    return sum(hits) / len(hits)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data")
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--grid", action="store_true", help="search the weights (tuning slice only)")
    args = ap.parse_args()
    cfg = WebGLMConfig()
    encoder = make_encoder(cfg.rank)
    encoder.load()
    t0 = time.perf_counter()
    items = references(args.data, args.offset, args.limit, cfg, encoder)
    print(f"{len(items)} questions ranked in {time.perf_counter() - t0:.0f} s")
    for n in (1, 2, 3):
        print(f"word overlap (old), {n} sentences: {score(items, lambda q, r: pick_sentences(q, r, n)):.3f}")
        w = PickWeights(sentences=n)
        print(f"dense + cues (default weights), {n} sentences: "
              f"{score(items, lambda q, r: pick_dense(q, r, encoder, w)):.3f}")
    print(f"dense only, 2 sentences: "
          f"{score(items, lambda q, r: pick_dense(q, r, encoder, PickWeights(1, 0, 0, 0, 2))):.3f}")
    if args.grid:
        best = []
        grid = itertools.product((0, 0.1, 0.2, 0.3, 0.5), (0, 0.2), (0, 0.1, 0.2, 0.3, 0.5), (2, 3))
        for cue, overlap, rank, n in grid:
            w = PickWeights(1.0, cue, overlap, rank, n)
            best.append((score(items, lambda q, r: pick_dense(q, r, encoder, w)), w))
        for s, w in sorted(best, key=lambda x: -x[0])[:8]:
            print(f"  {s:.3f}  {w}")


if __name__ == "__main__":
    main()
