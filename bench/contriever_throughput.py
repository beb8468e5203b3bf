"""Encoder throughput vs the machine's fp32 matmul roofline, and int8 speed-up.

    python bench/contriever_throughput.py \
        --posts <shared data>/stackexchange/beer.stackexchange.com_Posts.xml --n 256 --rounds 3

Roofline: GFLOP/s of a plain 2048x2048 fp32 matmul, best single call and sustained
over 3 s, measured right before and after every encoder pass; each pass is compared
with its own neighbours, and medians over the interleaved rounds are reported, because
the rate a shared virtual machine gives varies by a third from minute to minute. Encoder GFLOP/s counts the
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
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--batches", default="4,8,16,32", help="ONNX batch sizes to sweep")
    ap.add_argument("--batch", type=int, default=8, help="batch for the PyTorch rows")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    import torch

    from webglm.contriever.data import load_stackexchange

    texts = [a.text for a in load_stackexchange(args.posts).answers][: args.n]
    batches = [int(b) for b in args.batches.split(",")]
    cases = [(q, "onnx", b) for b in batches for q in ("none", "int8")]
    cases += [("none", "torch", args.batch), ("int8", "torch", args.batch)]
    out: dict = {"threads": torch.get_num_threads(), "passages": len(texts), "rounds": args.rounds}
    rows: dict = {c: [] for c in cases}
    ref_vecs, lengths, cfg = None, None, None
    for _ in range(args.rounds):
        for case in cases:  # each encoder pass sits between two matmul measurements
            before = matmul_gflops()
            res = run(texts, case[0], case[1], case[2], args.repeats)
            after = matmul_gflops()
            if ref_vecs is None:
                ref_vecs, lengths, cfg = res["vecs"], res["lengths"], res["config"]
            rows[case].append((res, max(before[0], after[0]), (before[1] + after[1]) / 2))
    flops = encoder_flops(lengths, cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers)
    out["mean_tokens"] = round(float(np.mean(lengths)), 1)
    for (quantize, runtime, batch), runs in rows.items():
        name = f"{runtime}_{'int8' if quantize == 'int8' else 'fp32'}_b{batch}"
        gflops = [flops / r["seconds"] / 1e9 for r, _, _ in runs]
        out[name] = {
            "passages_per_s": round(float(np.median([len(texts) / r["seconds"] for r, _, _ in runs])), 1),
            "gflops": round(float(np.median(gflops)), 1),
            "matmul_best_gflops": round(float(np.median([b for _, b, _ in runs])), 1),
            "share_of_best_roofline": round(float(np.median([g / b for g, (_, b, _) in zip(gflops, runs)])), 3),
            "share_of_sustained_roofline": round(float(np.median([g / s for g, (_, _, s) in zip(gflops, runs)])), 3),
            "cosine_to_first_min": round(float((ref_vecs * runs[0][0]["vecs"]).sum(1).min()), 4),
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
