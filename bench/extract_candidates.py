"""Benchmark: extraction candidates side by side on the saved pages (speed and quality).

Usage::

    python bench/extract_candidates.py [--pages DIR] [--repeat N] [--only a,b] [--json OUT]

Every candidate extracts every saved page, interleaved page by page (page 1 with
A, B, C, page 2 with B, C, A, ...) so a busy machine slows all of them alike; the
best of ``--repeat`` rounds counts. Quality is reported two ways: per snippet (share of `with`
snippets kept, of `without` snippets dropped) and per page (share of pages whose
`with` snippets are *all* kept, whose `without` snippets are *all* dropped), each
on the whole set and on its even / odd halves (tune on one, check on the other).
Candidates whose library is not installed are skipped with a note.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.retriever_extract import _default_dir, _page, load_pages  # noqa: E402
from _report import emit  # noqa: E402  (bench/ is the script's folder)


def _webglm(html: str) -> str:
    module = importlib.import_module("webglm.retriever.extract")

    return module._extract_sync(_page("https://saved.example/", html))[1]


def _trafilatura(fast: bool) -> Callable[[str], str]:
    def run(html: str) -> str:
        import trafilatura

        return trafilatura.extract(html, fast=fast, include_comments=False, include_tables=True) or ""

    return run


def _trafilatura_switch(**switch: bool) -> Callable[[str], str]:
    """trafilatura with one of its own switches (favor_precision / favor_recall) on the
    pages as webglm cleans them (hidden text removed first)."""
    def run(html: str) -> str:
        import trafilatura

        extract = importlib.import_module("webglm.retriever.extract")

        tree = extract._clean_tree(html)
        if tree is None:
            return ""
        return trafilatura.extract(extract._serialize(tree), include_comments=False, include_tables=True,
                                   **switch) or ""

    return run


def _soup_only(html: str) -> str:
    """webglm's BeautifulSoup fallback alone (it runs when trafilatura finds < 200 characters)."""
    extract = importlib.import_module("webglm.retriever.extract")

    return extract._soup_text(html)


def _resiliparse(html: str) -> str:
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html, main_content=True)


CANDIDATES: dict[str, Callable[[str], str]] = {
    "webglm": _webglm,
    "trafilatura": _trafilatura(False),
    "trafilatura-fast": _trafilatura(True),
    "resiliparse-main": _resiliparse,
    "soup-fallback": _soup_only,
    "trafilatura-precision": _trafilatura_switch(favor_precision=True),
    "trafilatura-recall": _trafilatura_switch(favor_recall=True),
}


def score(pages, texts: list[str], select=lambda i: True) -> dict:
    """Per-snippet and per-page keep / drop rates over the pages ``select`` picks."""
    k = kn = d = dn = pk = pkn = pd = pdn = 0
    for i, ((_, info, _), text) in enumerate(zip(pages, texts)):
        if not select(i):
            continue
        w, wo = info.get("with", []), info.get("without", [])
        kept = sum(s in text for s in w)
        dropped = sum(s not in text for s in wo)
        k, kn, d, dn = k + kept, kn + len(w), d + dropped, dn + len(wo)
        if w:
            pk, pkn = pk + (kept == len(w)), pkn + 1
        if wo:
            pd, pdn = pd + (dropped == len(wo)), pdn + 1
    r = lambda a, b: round(a / b, 3) if b else None  # noqa: E731
    return {"page_with": r(pk, pkn), "page_without": r(pd, pdn), "with": r(k, kn), "without": r(d, dn)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=Path, default=_default_dir())
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated candidate names")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    pages, real = load_pages(args.pages)
    if not real:
        sys.exit("saved pages not found: pass --pages DIR (pages.json + html/)")
    names = [n for n in CANDIDATES if not args.only or n in args.only.split(",")]
    for name in list(names):
        try:
            CANDIDATES[name](pages[0][2])
        except ImportError as exc:
            print(f"skipping {name}: {exc}", file=sys.stderr)
            names.remove(name)
    seconds = {n: [0.0] * args.repeat for n in names}
    texts: dict[str, list[str]] = {n: [] for n in names}
    # Interleaved page by page (the order rotates), so load that changes during the run
    # slows every candidate alike; the best of the repeats counts.
    for r in range(args.repeat):
        for i, (_, _, html) in enumerate(pages):
            for k in range(len(names)):
                name = names[(i + k) % len(names)]
                start = time.perf_counter()
                out = CANDIDATES[name](html)
                seconds[name][r] += time.perf_counter() - start
                if r == 0:
                    texts[name].append(out)
    best = {n: len(pages) / min(seconds[n]) for n in names}
    report = {
        "pages": len(pages),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "candidates": {
            n: {
                "pages_per_s": round(best[n], 1),
                "all": score(pages, texts[n]),
                "even": score(pages, texts[n], lambda i: i % 2 == 0),
                "odd": score(pages, texts[n], lambda i: i % 2 == 1),
            }
            for n in names
        },
    }
    emit(report, args.json, indent=2)


if __name__ == "__main__":
    main()
