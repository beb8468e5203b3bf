"""Cost of the evaluation machinery itself (no model): ROUGE-L speed and per-row run overhead.

Usage::

    python bench/eval_overhead.py POSTS_XML [--rows 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from webglm.eval.datasets import Dataset, Example, load_dataset
from webglm.eval.metrics import rouge_l, rouge_tokens
from webglm.eval.runner import RunOptions, run_eval
from webglm.types import Answer


def _lcs_dp(a, b):
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def bench_rouge(posts: Path) -> None:
    ds = load_dataset(posts, "stackexchange", top_n=2, min_answers=2)
    pairs = [(ex.answers[1], ex.answers[:1]) for ex in ds.examples]
    words = sum(len(rouge_tokens(a)) + len(rouge_tokens(g[0])) for a, g in pairs)
    t0 = time.perf_counter()
    for pred, golds in pairs:
        rouge_l(pred, golds)
    fast = time.perf_counter() - t0
    sub = pairs[:50]
    t0 = time.perf_counter()
    for pred, golds in sub:
        _lcs_dp(rouge_tokens(pred), rouge_tokens(golds[0]))
    dp = (time.perf_counter() - t0) / len(sub) * len(pairs)
    print(f"rouge_l: {len(pairs)} answer pairs ({words / len(pairs):.0f} words/pair): bit-parallel {fast:.3f} s, "
          f"plain DP LCS alone ~{dp:.2f} s (extrapolated from 50)")


def bench_rows(n: int) -> None:
    ds = Dataset("synthetic", "jsonl", "short", tuple(Example(f"e{i}", f"question {i}?", (f"ans{i}",))
                                                       for i in range(n)))

    async def answer(ex):
        return Answer(ex.question, f"The answer is ans{ex.id[1:]} [1].")

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_eval(ds, out_dir=tmp, answer_fn=answer, options=RunOptions(progress=False))
        total = time.perf_counter() - t0
    print(f"runner: {n} rows (fsync per row) + report with 1000-resample bootstrap: {total:.2f} s "
          f"({total / n * 1000:.2f} ms/row)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("posts", type=Path)
    ap.add_argument("--rows", type=int, default=2000)
    args = ap.parse_args()
    bench_rouge(args.posts)
    bench_rows(args.rows)


if __name__ == "__main__":
    main()
