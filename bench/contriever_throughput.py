"""Encoder throughput vs the machine's fp32 matmul roofline, and int8 speed-up.

    python bench/contriever_throughput.py \
        --posts <shared data>/stackexchange/beer.stackexchange.com_Posts.xml --n 512 --repeats 3

Roofline: GFLOP/s of a plain 2048x2048 fp32 matmul, best single call and sustained
over 3 s, measured before and after every encoder run. Encoder GFLOP/s counts the
useful work of BERT on the real (unpadded) tokens: per token and layer
2*(4*d^2 + 2*d*ff) for the projections and feed-forward, plus 2*2*T*d for attention.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def matmul_gflops(n: int = 2048, seconds: float = 3.0) -> tuple[float, float]:
    """(best single, sustained mean) GFLOP/s of an n x n fp32 matmul over ``seconds``. The
    sustained figure is comparable with an encoder run of several seconds on a shared machine."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm-up
    best, count, start = float("inf"), 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
        count += 1
    flop = 2 * n**3
    return flop / best / 1e9, flop * count / (time.perf_counter() - start) / 1e9


def encoder_flops(lengths: list[int], d: int, ff: int, layers: int) -> float:
    per_token = 2 * (4 * d * d + 2 * d * ff)
    return float(sum(layers * (per_token * t + 4 * t * t * d) for t in lengths))


def run(texts: list[str], quantize: str, runtime: str, batch: int, repeats: int) -> dict:
    from webglm.config import RankConfig
    from webglm.contriever import make_encoder

    enc = make_encoder(RankConfig(quantize=quantize, runtime=runtime, batch_size=batch, cache_size=0))
    enc.load()
    enc.encode(texts[:batch])  # warm-up
    bb = enc.backbone
    lengths = [len(ids) for ids in bb.tokenizer(texts, truncation=True, max_length=bb.max_length)["input_ids"]]
    times, vecs = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        vecs = enc.encode(texts)
        times.append(time.perf_counter() - t0)
    best = min(times)
    return {"seconds": best, "passages_per_s": len(texts) / best, "mean_tokens": float(np.mean(lengths)),
            "lengths": lengths, "vecs": vecs, "config": bb.config, "all_seconds": times}


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
    cases = [("none", "onnx"), ("int8", "onnx"), ("none", "torch"), ("int8", "torch")]
    out: dict = {"threads": torch.get_num_threads(), "passages": len(texts)}
    roofs, results = [matmul_gflops()], {}
    for quantize, runtime in cases:
        results[(quantize, runtime)] = run(texts, quantize, runtime, args.batch, args.repeats)
        roofs.append(matmul_gflops())  # interleaved, so contention shows up on both sides
    roof = max(r[0] for r in roofs)
    sustained = float(np.mean([r[1] for r in roofs]))
    ref = results[("none", "onnx")]
    cfg = ref["config"]
    flops = encoder_flops(ref["lengths"], cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers)
    out.update(mean_tokens=round(ref["mean_tokens"], 1), matmul_gflops_best=[round(r[0], 1) for r in roofs],
               matmul_gflops_sustained=[round(r[1], 1) for r in roofs], roofline_best_gflops=round(roof, 1),
               roofline_sustained_gflops=round(sustained, 1))
    for (quantize, runtime), res in results.items():
        name = f"{runtime}_{'int8' if quantize == 'int8' else 'fp32'}"
        gflops = flops / res["seconds"] / 1e9
        cos = (ref["vecs"] * res["vecs"]).sum(1)
        out[name] = {"passages_per_s": round(res["passages_per_s"], 1), "gflops": round(gflops, 1),
                     "share_of_best_roofline": round(gflops / roof, 3),
                     "share_of_sustained_roofline": round(gflops / sustained, 3),
                     "speedup_vs_onnx_fp32": round(res["passages_per_s"] / ref["passages_per_s"], 2),
                     "cosine_to_onnx_fp32_min": round(float(cos.min()), 4)}
    print(json.dumps(out, indent=1))

if __name__ == "__main__":
    main()
