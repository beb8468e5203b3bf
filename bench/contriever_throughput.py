"""Encoder throughput vs the machine's fp32 matmul roofline, and int8 speed-up.

    flock /tmp/webglm-bench.lock python bench/contriever_throughput.py \
        --posts <shared data>/stackexchange/beer.stackexchange.com_Posts.xml --n 512

Roofline: best GFLOP/s of a plain 2048x2048 fp32 matmul. Encoder GFLOP/s counts the
useful work of BERT on the real (unpadded) tokens: per token and layer
2*(4*d^2 + 2*d*ff) for the projections and feed-forward, plus 2*2*T*d for attention.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def encoder_flops(lengths: list[int], d: int, ff: int, layers: int) -> float:
    per_token = 2 * (4 * d * d + 2 * d * ff)
    return float(sum(layers * (per_token * t + 4 * t * t * d) for t in lengths))


def run(texts: list[str], quantize: str, batch: int, repeats: int) -> dict:
    from webglm.config import RankConfig
    from webglm.contriever import make_encoder

    enc = make_encoder(RankConfig(quantize=quantize, batch_size=batch, cache_size=0))
    enc.load()
    enc.encode(texts[:batch])  # warm-up
    tok = enc.model.tokenizer
    limit = enc.model.max_seq_length
    lengths = [min(len(tok(t)["input_ids"]), limit) for t in texts]
    best, vecs = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        vecs = enc.encode(texts)
        best = min(best, time.perf_counter() - t0)
    cfg = enc.model[0].auto_model.config if quantize == "none" else None
    return {"seconds": best, "passages_per_s": len(texts) / best, "mean_tokens": float(np.mean(lengths)),
            "lengths": lengths, "vecs": vecs, "config": cfg}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--posts", required=True)
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    import torch

    from webglm.contriever.data import load_stackexchange

    texts = [a.text for a in load_stackexchange(args.posts).answers][: args.n]
    roof_before = matmul_gflops()
    fp32 = run(texts, "none", args.batch, args.repeats)
    int8 = run(texts, "int8", args.batch, args.repeats)
    roof_after = matmul_gflops()
    cfg = fp32["config"]
    flops = encoder_flops(fp32["lengths"], cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers)
    roof = max(roof_before, roof_after)
    achieved = flops / fp32["seconds"] / 1e9
    cos = (fp32["vecs"] * int8["vecs"]).sum(1)
    print(json.dumps({
        "threads": torch.get_num_threads(), "passages": len(texts), "mean_tokens": fp32["mean_tokens"],
        "matmul_gflops_before": round(roof_before, 1), "matmul_gflops_after": round(roof_after, 1),
        "fp32_passages_per_s": round(fp32["passages_per_s"], 1), "fp32_gflops": round(achieved, 1),
        "fp32_share_of_roofline": round(achieved / roof, 3),
        "int8_passages_per_s": round(int8["passages_per_s"], 1),
        "int8_speedup": round(int8["passages_per_s"] / fp32["passages_per_s"], 2),
        "int8_vs_fp32_cosine_min": round(float(cos.min()), 4), "int8_vs_fp32_cosine_mean": round(float(cos.mean()), 4),
    }, indent=1))


if __name__ == "__main__":
    main()
