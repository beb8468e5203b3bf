"""Benchmark: cost of each step of the shipped HTML extractor, and how often the fallback runs.

Usage::

    python bench/extract_steps.py [--pages DIR] [--limit N] [--json OUT]

For each saved page, one after the other in one process (so load changes hit every
step alike): lxml parsing, ``drop_hidden`` (the hidden-text rules), stripping the
non-content tags, and trafilatura on the cleaned tree, each timed on its own; the
mean per page is reported for the first ``--limit`` pages (default 120). Over all
pages it also counts those where trafilatura finds fewer than the extractor's
minimum characters, i.e. where the BeautifulSoup fallback runs, and how many of
those the fallback's longer text then replaces.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.retriever_extract import _default_dir, load_pages  # noqa: E402
from _report import emit  # noqa: E402  (bench/ is the script's folder)

extract = importlib.import_module("webglm.retriever.extract")
STEPS = ("parse", "drop_hidden", "strip_tags", "trafilatura")


def steps(html: str) -> tuple[dict[str, float], str, object]:
    """Seconds per step for one page, trafilatura's text and the cleaned tree (None if unparsable)."""
    import lxml.html
    from lxml import etree

    took: dict[str, float] = {}
    start = time.perf_counter()
    try:
        tree = lxml.html.fromstring(html)
    except (etree.ParserError, ValueError):
        return {}, "", None
    took["parse"] = time.perf_counter() - start
    start = time.perf_counter()
    extract.drop_hidden(tree)
    took["drop_hidden"] = time.perf_counter() - start
    start = time.perf_counter()
    etree.strip_elements(tree, *extract._DROP_TAGS, with_tail=False)
    took["strip_tags"] = time.perf_counter() - start
    start = time.perf_counter()
    text = extract._trafilatura(tree)
    took["trafilatura"] = time.perf_counter() - start
    return took, text, tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=Path, default=_default_dir(), help="folder with pages.json + html/")
    parser.add_argument("--limit", type=int, default=120, help="pages whose step times are averaged")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    pages, real = load_pages(args.pages)
    if not real:
        sys.exit("saved pages not found: pass --pages DIR (pages.json + html/)")
    extract.warm_up()
    totals = dict.fromkeys(STEPS, 0.0)
    timed = short = replaced = 0
    for i, (_url, _info, html) in enumerate(pages):
        took, text, tree = steps(html)
        if i < args.limit and took:
            timed += 1
            for name in STEPS:
                totals[name] += took[name]
        if len(text) < extract._MIN_GOOD_CHARS:
            short += 1
            fallback = extract._soup_text(extract._serialize(tree) if tree is not None else html)
            replaced += len(fallback) > len(text)
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load": round(os.getloadavg()[0], 1),
        "timed_pages": timed,
        "ms_per_page": {n: round(1000 * totals[n] / max(timed, 1), 1) for n in STEPS},
        "pages": len(pages),
        "fallback_runs": short,
        "fallback_text_used": replaced,
        "min_chars": extract._MIN_GOOD_CHARS,
    }
    emit(report, args.json, indent=1)


if __name__ == "__main__":
    main()
