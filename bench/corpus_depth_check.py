"""Benchmark: what the corpus reader's HTML nesting check costs next to extraction.

Usage::

    python bench/corpus_depth_check.py [--pages DIR] [--limit N]

For each saved page (``DIR/html/*``, by default ``$WEBGLM_SHARED_DATA/pages`` or
``../shared/data/pages`` beside the checkout) the depth scan and the normal extraction are
timed one after the other, interleaved, so both see the same machine load. Two synthetic
files follow: 2,000,000 sibling ``<p>`` (16 MB) and 1,000,000 nested ``<div>`` (11 MB).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webglm.retriever.extract import _extract_sync  # noqa: E402
from webglm.retriever.localtext import flat_html, too_deep  # noqa: E402
from webglm.types import Page  # noqa: E402


def _pages_dir(given: str | None) -> Path:
    if given:
        return Path(given)
    env = os.environ.get("WEBGLM_SHARED_DATA")
    base = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    return base / "pages"


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages")
    ap.add_argument("--limit", type=int, default=120)
    args = ap.parse_args()
    files = sorted((_pages_dir(args.pages) / "html").iterdir())[: args.limit]
    scan = extract = 0.0
    size = 0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        size += len(text)
        page = Page(url="file:x", final_url="file:x", status=200, content_type="text/html", text=text, fetched_at=0.0)
        scan += _timed(too_deep, text)
        extract += _timed(_extract_sync, page)
    print(f"{len(files)} saved pages ({size / 1e6:.1f} M chars): depth scan {scan:.2f} s, "
          f"extraction {extract:.2f} s, scan / extraction {scan / extract:.3f}")
    wide = "<html><body>" + "<p>x</p>" * 2_000_000 + "</body></html>"
    deep = "<html><body>" + "<div>" * 1_000_000 + "bottom" + "</div>" * 1_000_000 + "</body></html>"
    for name, text in (("2M sibling <p> (16 MB)", wide), ("1M nested <div> (11 MB)", deep)):
        start = time.perf_counter()
        flat = too_deep(text)
        took = time.perf_counter() - start
        extra = f", flat text {_timed(flat_html, text):.2f} s" if flat else ""
        print(f"{name}: too deep {flat}, scan {took:.2f} s{extra}")


if __name__ == "__main__":
    main()
