"""Fine-tune MiniLM on one Stack Exchange site's questions; compare held-out retrieval.

    python bench/contriever_finetune.py \
        --posts <shared data>/stackexchange/beer.stackexchange.com_Posts.xml --out /tmp/ft-beer

Questions are split by a hash of their id (20% held out). Training sees only the
training questions' (title, answer) pairs with BM25-mined hard negatives. Evaluation:
each held-out title against all answers of the site (fp32, same settings for both models).
"""

from __future__ import annotations

import argparse
import json
import time

from webglm.config import RankConfig
from webglm.contriever import CorpusIndex, make_encoder
from webglm.contriever.data import load_stackexchange, stackexchange_examples
from webglm.contriever.evaluate import answer_passages, evaluate_index
from webglm.contriever.train import train_retriever


def evaluate(site, model: str, holdout: float, max_length: int) -> dict:
    cfg = RankConfig(model=model, quantize="none", max_length=max_length, mmr_lambda=1.0, per_url_cap=100)
    index = CorpusIndex.build(answer_passages(site.name, site.answers), make_encoder(cfg), cfg)
    examples = stackexchange_examples(site, holdout=holdout, split="heldout")
    rel: dict[str, set[str]] = {}
    for a in site.answers:
        rel.setdefault(a.parent, set()).add(a.id)
    relevant = [rel[e.qid] for e in examples]
    out = {}
    for mode in ("dense", "hybrid"):
        res = evaluate_index(index, examples, relevant, mode, cfg)
        out[mode] = {k: round(res[k], 4) for k in ("recall@1", "recall@5", "recall@10", "mrr", "queries")}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--posts", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--holdout", type=float, default=0.2)
    ap.add_argument("--steps", type=int, default=60, help="step limit (training stops after one epoch)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--no-hard-negatives", action="store_true", help="in-batch negatives only")
    ap.add_argument("--skip-untuned", action="store_true", help="evaluate only the tuned model")
    args = ap.parse_args()
    site = load_stackexchange(args.posts)
    t0 = time.perf_counter()
    stats = train_retriever(args.posts, args.out, loss="contrastive", batch_size=args.batch, lr=args.lr,
                            max_steps=args.steps, holdout=args.holdout, max_length=args.max_length,
                            hard_negatives=not args.no_hard_negatives,
                            progress=lambda s, n, loss: print(f"step {s}/{n} loss {loss:.4f}", flush=True))
    train_s = time.perf_counter() - t0
    untuned = None if args.skip_untuned else evaluate(site, "", args.holdout, args.max_length)
    tuned = evaluate(site, args.out, args.holdout, args.max_length)
    print(json.dumps({"train": {**{k: round(v, 4) for k, v in stats.items()}, "wall_seconds": round(train_s, 1),
                                "max_steps": args.steps, "batch": args.batch, "lr": args.lr,
                                "hard_negatives": not args.no_hard_negatives},
                      "untuned": untuned, "tuned": tuned}, indent=1))


if __name__ == "__main__":
    main()
