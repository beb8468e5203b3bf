"""Benchmark: bulk passage encoding, fixed batches vs token-budget batches, side by side.

Usage::

    python bench/encode_batching.py [--n 512] [--rounds 3] [--budgets 0,512,1024] \
        [--posts .../beer.stackexchange.com_Posts.xml] [--sets NAME,...] [--quantize none] [--json OUT]

Encodes the same passages with the default encoder (packaged MiniLM, ONNX Runtime int8 on
CPU, cache off) once per ``rank.batch_tokens`` value, the values alternating round by round
so that load changing during the run hits all of them; the best round counts.
``batch_tokens = 0`` is the old path: fixed batches of ``rank.batch_size`` (4) texts,
tokenised batch by batch. The passage sets:

* ``local-file``: the chunked passages of ``bench/local_file_limits.py``'s distinct-text
  file (the 47,000- and 205,000-paragraph files are made of these);
* ``sentences``: its single sentences (short passages, ~20 tokens);
* ``se-titles`` / ``se-answers`` with ``--posts``: Stack Exchange question titles (short,
  real) and answers (long, real; truncated at ``rank.max_length``).

Also reports, per set, how far the vectors of each budget are from the old path's (largest
absolute difference and smallest cosine), which must be float noise.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _report import emit  # noqa: E402  (bench/ is the script's folder)

SENTENCE = "The harbour museum opened gallery {i} to visitors, and the tide tables were posted at noon."


def _local_file_passages(n: int) -> list[str]:
    from webglm.config import ChunkConfig
    from webglm.retriever.chunk import chunk_text

    text = "\n".join(SENTENCE.format(i=i) for i in range(n * 4))
    return [p.text for p in chunk_text(text, url="file:bench", title="", config=ChunkConfig())][:n]


def _posts(path: Path, n: int) -> dict[str, list[str]]:
    from webglm.stackexchange import read_posts

    posts = list(read_posts(path))
    titles = [p.title for p in posts if p.kind == "question" and p.title][:n]
    bodies = [p.text for p in posts if p.kind == "answer" and p.text.strip()][:n]
    return {"se-titles": titles, "se-answers": bodies}


def _sets(args) -> dict[str, list[str]]:
    sets = {"local-file": _local_file_passages(args.n),
            "sentences": [SENTENCE.format(i=i + 10**6) for i in range(args.n)]}
    if args.posts:
        sets.update(_posts(args.posts, args.n))
    if args.sets:
        sets = {name: sets[name] for name in args.sets.split(",")}
    return sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=512, help="passages per set")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budgets", default="0,512,1024", help="rank.batch_tokens values (0: the old path)")
    parser.add_argument("--posts", type=Path, help="a Stack Exchange *_Posts.xml for real short and long texts")
    parser.add_argument("--sets", default="", help="comma-separated subset of the sets (default: all)")
    parser.add_argument("--quantize", default="auto", help="rank.quantize: auto (int8 on CPU) or none (fp32)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from webglm.config import RankConfig
    from webglm.contriever.encoders import make_encoder

    budgets = [int(b) for b in args.budgets.split(",")]
    encoders = {b: make_encoder(RankConfig(cache_size=0, batch_tokens=b, quantize=args.quantize)).load() for b in budgets}
    sets = _sets(args)
    tok = encoders[budgets[0]]._tower("passage")[0].tokenizer
    load_start = os.getloadavg()[0]
    seconds: dict[str, dict[int, list[float]]] = {name: {b: [] for b in budgets} for name in sets}
    vectors: dict[str, dict[int, np.ndarray]] = {name: {} for name in sets}
    for r in range(args.rounds):
        for name, texts in sets.items():
            for b in (budgets if r % 2 == 0 else budgets[::-1]):
                start = time.perf_counter()
                vecs = encoders[b].encode(texts, "passage")
                seconds[name][b].append(time.perf_counter() - start)
                vectors[name].setdefault(b, vecs)
                print(f"round {r + 1} {name} batch_tokens={b}: {len(texts) / seconds[name][b][-1]:.1f} passages/s",
                      file=sys.stderr, flush=True)
    report = {"machine": f"{platform.machine()} {os.cpu_count()} cpus", "rounds": args.rounds,
              "load_average": [round(load_start, 1), round(os.getloadavg()[0], 1)],
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "runtime": f"{encoders[budgets[0]].runtime} {'int8' if encoders[budgets[0]].quantized else 'fp32'}",
              "sets": {}}
    base = budgets[0]
    for name, texts in sets.items():
        lengths = [len(x) for x in tok(texts, truncation=True, max_length=256)["input_ids"]]
        best = {b: len(texts) / min(s) for b, s in seconds[name].items()}
        diffs = {}
        for b in budgets[1:]:
            a, c = vectors[name][base], vectors[name][b]
            cos = (a * c).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(c, axis=1))
            diffs[b] = {"max_abs_diff": float(np.abs(a - c).max()), "min_cosine": float(cos.min())}
        report["sets"][name] = {
            "passages": len(texts), "tokens_mean": round(float(np.mean(lengths)), 1),
            "passages_per_s": {b: round(v, 1) for b, v in best.items()},
            "each_round": {b: [round(len(texts) / x, 1) for x in s] for b, s in seconds[name].items()},
            "speedup_vs_first": {b: round(best[b] / best[base], 2) for b in budgets[1:]},
            "vectors_vs_first": diffs,
        }
    emit(report, args.json, indent=2)


if __name__ == "__main__":
    main()
