"""Benchmark: pages/s of webglm's extractor in this process vs in worker processes.

Usage::

    python bench/extract_pool.py [--pages DIR] [--workers 2] [--group 10] [--rounds 3] [--json OUT]

The saved pages are extracted in groups of ``--group`` (about what one ``webglm ask``
fetches), each group submitted at once and awaited, as the retriever does: once by
the extraction threads of this process (``fetch.extract_processes=0``) and once by a
pool of ``--workers`` processes (:func:`webglm.retriever.pools.process_pool`). The two
alternate round by round, so load that changes during the run hits both; the best round
counts. Quality (``bench/extract_candidates.py``'s per-page and per-snippet rates) is
computed on the pool's output, and the script checks it equals the in-process output.
Pool start-up (about a second per worker, paid once per process) is reported separately.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.extract_candidates import score  # noqa: E402
from bench.retriever_extract import _default_dir, _page, load_pages  # noqa: E402
from _report import emit  # noqa: E402  (bench/ is the script's folder)

extract = importlib.import_module("webglm.retriever.extract")
pools = importlib.import_module("webglm.retriever.pools")


async def _run(pages, group: int, pool) -> tuple[float, list[str]]:
    texts: list[str] = []
    start = time.perf_counter()
    for i in range(0, len(pages), group):
        batch = [_page(url, html) for url, _, html in pages[i:i + group]]
        got = await asyncio.gather(*(extract.aextract(p, timeout=60.0, pool=pool) for p in batch),
                                   return_exceptions=True)
        texts += [g[1] if isinstance(g, tuple) else "" for g in got]
    return time.perf_counter() - start, texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=Path, default=_default_dir())
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--group", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    pages, real = load_pages(args.pages)
    if not real:
        sys.exit("saved pages not found: pass --pages DIR (pages.json + html/)")
    load_start = os.getloadavg()[0]
    extract.warm_up()
    t0 = time.perf_counter()
    pool = pools.process_pool(args.workers)
    startup = time.perf_counter() - t0
    seconds: dict[str, list[float]] = {"threads": [], "processes": []}
    outputs: dict[str, list[str]] = {}
    for r in range(args.rounds):
        for name in (["threads", "processes"] if r % 2 == 0 else ["processes", "threads"]):
            secs, texts = asyncio.run(_run(pages, args.group, pool if name == "processes" else None))
            seconds[name].append(secs)
            outputs.setdefault(name, texts)
            print(f"round {r + 1} {name}: {len(pages) / secs:.1f} pages/s", file=sys.stderr, flush=True)
    report = {
        "pages": len(pages), "group": args.group, "workers": args.workers,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "load_average": [round(load_start, 1), round(os.getloadavg()[0], 1)],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "pool_startup_s": round(startup, 2),
        "pages_per_s": {n: round(len(pages) / min(s), 1) for n, s in seconds.items()},
        "pages_per_s_each_round": {n: [round(len(pages) / x, 1) for x in s] for n, s in seconds.items()},
        "speedup": round(min(seconds["threads"]) / min(seconds["processes"]), 2),
        "same_output": outputs["threads"] == outputs["processes"],
        "quality": score(pages, outputs["processes"]),
    }
    emit(report, args.json, indent=2)


if __name__ == "__main__":
    main()
