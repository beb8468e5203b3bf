"""Latency of `webglm ask` on the docs corpus: per-stage p50/p95 and peak memory.

    python bench/ask_latency.py [--questions 20] [--candidates 1] [--out bench-ask.json]

Model loading and corpus indexing are timed separately and excluded from the per-question numbers.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "How does webglm rank passages?",
    "What happens when no passage is relevant to the question?",
    "Which search engines does webglm support?",
    "How does webglm keep page fetching safe?",
    "What is the default generator model?",
    "How are citations checked after generation?",
    "What does the scorer do?",
    "How do I use my own documents as a corpus?",
    "How can I use a bigger model?",
    "Where are API keys read from?",
    "How do environment variables override settings?",
    "What is the stage budget for fetching pages?",
    "How do I stream tokens from Python?",
    "What does the trace record?",
    "Which errors can webglm raise?",
    "Where is the index cache stored?",
    "What file types can a local corpus contain?",
    "How does search engine failover work?",
    "What is MMR used for in ranking?",
    "How many references does webglm use by default?",
]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--questions", type=int, default=20)
    ap.add_argument("--candidates", type=int, default=1)
    ap.add_argument("--corpus", default=str(ROOT / "docs"))
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    from webglm import WebGLM, load_config

    cfg = load_config(overrides={"scorer.candidates": args.candidates})
    glm = WebGLM(cfg, corpus=args.corpus)
    t0 = time.perf_counter()
    glm.load()
    load_total = time.perf_counter() - t0
    per_stage: dict[str, list[float]] = {}
    cited_ok = 0
    questions = (QUESTIONS * 3)[: args.questions]
    for q in questions:
        ans = glm.answer(q)
        for stage, sec in ans.trace.timings.items():
            per_stage.setdefault(stage, []).append(sec)
        refs = {r.index for r in ans.references}
        cited_ok += bool(ans.citations) and set(ans.citations) <= refs
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, no GPU",
        "questions": len(questions),
        "candidates": args.candidates,
        "load_seconds": {**{k: round(v, 3) for k, v in glm.load_seconds.items()}, "total": round(load_total, 3)},
        "stages": {s: {"p50": round(pct(v, 0.5), 3), "p95": round(pct(v, 0.95), 3),
                       "mean": round(statistics.fmean(v), 3)} for s, v in per_stage.items()},
        "answers_with_valid_citations": cited_ok,
        "peak_rss_mib": round(peak_mib, 1),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
