"""Benchmark: near-duplicate passage removal, prefix filtering vs comparing every pair.

    python bench/dedup_speed.py [--pages DIR] [--sizes 160,1000,0] [--rounds 2] [--paragraphs N]

The saved pages are extracted and chunked (default settings, no dedup), or with
``--paragraphs N`` the N templated paragraphs of ``bench/local_file_limits.py``'s
distinct-text files (one file, as ``webglm index build`` reads it); the first N
passages (0 = all) are deduplicated by :func:`webglm.retriever.chunk.dedup_passages` and by
a plain every-pair scan (the definition), alternating round by round. Prints seconds for
both and whether they kept the same passages.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.retriever_extract import _default_dir, _page, load_pages  # noqa: E402
from webglm.config import ChunkConfig  # noqa: E402
from webglm.retriever.chunk import chunk_text, dedup_every_pair, dedup_passages  # noqa: E402



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=Path, default=_default_dir())
    ap.add_argument("--sizes", default="160,1000,0")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--paragraphs", type=int, default=0)
    args = ap.parse_args()
    cfg = ChunkConfig(dedup=False, per_url_cap=1_000_000)
    passages = []
    if args.paragraphs:
        from bench.local_file_limits import SENTENCE

        text = "\n".join(SENTENCE.format(i=i) for i in range(args.paragraphs))
        passages = chunk_text(text, url="file:distinct.html", title="", config=cfg)
    else:
        extract = importlib.import_module("webglm.retriever.extract")
        for url, _, html in load_pages(args.pages)[0]:
            _, text = extract._extract_sync(_page(url, html))
            passages += chunk_text(text, url=url, title="", config=cfg)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        sub = passages[:size] if size else passages
        secs: dict[str, list[float]] = {"prefix_filter": [], "every_pair": []}
        kept: dict[str, list[str]] = {}
        for r in range(args.rounds):
            names = ["prefix_filter", "every_pair"] if r % 2 == 0 else ["every_pair", "prefix_filter"]
            for name in names:
                fn = dedup_passages if name == "prefix_filter" else dedup_every_pair
                t = time.perf_counter()
                out = fn(sub)
                secs[name].append(round(time.perf_counter() - t, 3))
                kept[name] = [p.id for p in out]
        same = kept["prefix_filter"] == kept["every_pair"]
        rows.append({"passages": len(sub), "kept": len(kept["prefix_filter"]), "seconds": secs,
                     "same_result": same})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                      "load_average": round(os.getloadavg()[0], 1), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
