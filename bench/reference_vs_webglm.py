"""WebGLM's reference retrieval and webglm's, side by side on the same groups of saved pages.

    python bench/reference_vs_webglm.py --pages PATH/TO/pages --groups 48 [--seed 0]
        [--set rank.dense_budget=64] [--variant NAME=rank.dense_budget=24,rank.max_length=128] [--out out.json]

Each group is 10 saved real pages (a folder with ``pages.json`` and ``html/``); the
question is one page's title (from ``pages.json``), the other 9 pages are drawn at
random (seeded). Both methods run in one process on the same groups, interleaved (the
order alternates per group), with the same encoder object (packaged all-MiniLM-L6-v2
as configured by ``rank.*``) and its embedding cache cleared before every run, so
neither method profits from vectors the other (or an earlier group) computed.

* reference: WebGLM's method. ``html2text`` of each page, one line is one paragraph,
  lines under 50 characters dropped and longer ones cut at 1200, every line encoded,
  dot product with the question vector, top 5.
* webglm: the retriever's extraction (all pages submitted at once, to the
  ``fetch.extract_processes`` worker processes when there are any, as the retriever does;
  the workers are started before the first group) and chunking, then
  :class:`webglm.contriever.Ranker` with the configured ``rank.*`` settings.

``--variant`` adds further webglm configurations (comma-separated ``--set`` items on
top of the ``--set`` ones), run in the same interleaved rotation. Fetching is left out
of all methods (the pages are in memory). Printed per method: mean and
median seconds per question, own-page recall@5 (the question's own page among the 5
references) and the mean number of texts encoded per question.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MIN_CHARS, MAX_CHARS, TOP_K, GROUP = 50, 1200, 5, 10


def load_rows(folder: Path) -> list[dict]:
    """Saved pages with a title: url, title, decoded html."""
    from webglm.retriever.body import decode_body

    meta = json.loads((folder / "pages.json").read_text(encoding="utf-8"))
    rows = []
    for url, info in sorted(meta.items()):
        path = folder / "html" / info["file"]
        if path.is_file() and (info.get("title") or "").strip():
            rows.append({"url": url, "title": info["title"].strip(),
                         "html": decode_body(path.read_bytes(), "")})
    return rows


def make_groups(rows: list[dict], n: int, seed: int) -> list[tuple[int, list[int]]]:
    """(target, page indexes in shuffled order) per group; targets are distinct pages."""
    rng = random.Random(seed)
    targets = rng.sample(range(len(rows)), min(n, len(rows)))
    groups = []
    for t in targets:
        members = [t, *rng.sample([i for i in range(len(rows)) if i != t], GROUP - 1)]
        rng.shuffle(members)
        groups.append((t, members))
    return groups


def reference_method(question: str, pages: list[dict], encoder) -> list[str]:
    """URLs of WebGLM's top-5 lines (html2text lines >= 50 chars, dot product)."""
    import html2text
    import numpy as np

    lines, urls = [], []
    for page in pages:
        conv = html2text.HTML2Text()
        conv.body_width = 0  # no re-wrapping: one paragraph stays one line
        conv.ignore_links = conv.ignore_images = True
        for line in conv.handle(page["html"]).split("\n"):
            line = line.strip()
            if len(line) >= MIN_CHARS:
                lines.append(line[:MAX_CHARS])
                urls.append(page["url"])
    if not lines:
        return []
    scores = encoder.encode(lines, "passage") @ encoder.encode([question], "query")[0]
    return [urls[i] for i in np.argsort(-scores, kind="stable")[:TOP_K]]


def _extract_all(pages: list[dict], pool) -> list[tuple[str, str] | None]:
    """(title, text) per page, all submitted at once as the retriever does (None: no text)."""
    import asyncio

    from webglm.retriever.extract import aextract
    from webglm.types import Page

    async def run():
        docs = [Page(url=p["url"], final_url=p["url"], status=200, content_type="text/html",
                     text=p["html"], fetched_at=0.0) for p in pages]
        got = await asyncio.gather(*(aextract(d, timeout=10.0, pool=pool) for d in docs), return_exceptions=True)
        return [g if isinstance(g, tuple) else None for g in got]

    return asyncio.run(run())


def webglm_method(question: str, pages: list[dict], ranker, config, pool) -> list[str]:
    """URLs of webglm's references: extraction (in ``pool`` when given), chunking,
    cross-page dedup, Ranker."""
    from webglm.retriever.chunk import chunk_text, dedup_passages

    passages = []
    for page, got in zip(pages, _extract_all(pages, pool)):
        if got is None:
            continue
        title, text = got
        # the pipeline falls back to the search hit's title, which is the page title here
        passages += chunk_text(text, url=page["url"], title=title or page["title"], config=config.chunk)
    if config.chunk.dedup:
        passages = dedup_passages(passages)
    ranking = ranker.rank(question, passages)
    return [r.passage.url for r in ranking.references]


def timed(fn, encoder):
    encoder.cache.clear()
    before = encoder.encoded
    t0 = time.perf_counter()
    urls = fn()
    return urls, time.perf_counter() - t0, encoder.encoded - before


def summary(rows: list[dict]) -> dict:
    secs = [r["seconds"] for r in rows]
    return {"groups": len(rows), "own_page_at_5": sum(r["hit"] for r in rows),
            "own_page_recall@5": round(statistics.fmean(r["hit"] for r in rows), 4),
            "mean_s": round(statistics.fmean(secs), 3), "median_s": round(statistics.median(secs), 3),
            "encoded_mean": round(statistics.fmean(r["encoded"] for r in rows), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", required=True, help="folder with pages.json and html/")
    ap.add_argument("--groups", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=SECTION.FIELD=VALUE,...")
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    from webglm.cli import parse_sets
    from webglm import load_config
    from webglm.contriever import Ranker, make_encoder

    base = parse_sets(args.set)
    configs = {"webglm": load_config(overrides=base)}
    for item in args.variant:
        name, _, sets = item.partition("=")
        configs[name] = load_config(overrides={**base, **parse_sets([x for x in sets.split(",") if x])})
    rows = load_rows(Path(args.pages))
    groups = make_groups(rows, args.groups, args.seed)
    encoder = make_encoder(configs["webglm"].rank).load()
    encoder.encode(["warm up the runtime"], "query")
    rankers = {name: Ranker(encoder, c.rank) for name, c in configs.items()}
    from webglm.retriever.extract import warm_up
    from webglm.retriever.pools import process_pool
    from webglm.retriever.workers import resolve_workers

    warm_up()  # started outside the timings, as a running pipeline has them
    pools = {name: process_pool(resolve_workers(c.fetch.extract_processes)) for name, c in configs.items()}
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_start = os.getloadavg()[0]
    results: dict[str, list[dict]] = {"reference": [], **{name: [] for name in configs}}
    for g, (target, members) in enumerate(groups):
        question, pages = rows[target]["title"], [rows[i] for i in members]
        runs = {"reference": lambda: reference_method(question, pages, encoder)}
        for name, c in configs.items():
            runs[name] = lambda name=name, c=c: webglm_method(question, pages, rankers[name], c, pools[name])
        names = list(runs)
        order = names[g % len(names):] + names[: g % len(names)]  # rotate who goes first
        for name in order:
            urls, secs, encoded = timed(runs[name], encoder)
            results[name].append({"group": g, "hit": rows[target]["url"] in urls, "seconds": secs,
                                  "encoded": encoded})
        print(f"group {g + 1}/{len(groups)}: " + ", ".join(
            f"{n} {results[n][-1]['seconds']:.2f}s {'hit' if results[n][-1]['hit'] else 'MISS'}" for n in order),
            file=sys.stderr, flush=True)
    ref = summary(results["reference"])
    report = {"started": started, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "load_average_start": round(load_start, 2), "load_average_end": round(os.getloadavg()[0], 2),
              "groups": len(groups), "seed": args.seed, "sets": args.set, "variants": args.variant,
              "reference": ref,
              "reference_misses": [rows[groups[r["group"]][0]]["title"] for r in results["reference"]
                                   if not r["hit"]]}
    for name in configs:
        ours = summary(results[name])
        report[name] = {**ours, "speedup_mean": round(ref["mean_s"] / ours["mean_s"], 2),
                        "speedup_median": round(ref["median_s"] / ours["median_s"], 2),
                        "misses": [rows[groups[r["group"]][0]]["title"] for r in results[name] if not r["hit"]]}
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
