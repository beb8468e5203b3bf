"""Benchmark: extraction + chunking throughput (pages/s) and extraction quality on saved pages.

Usage::

    python bench/retriever_extract.py [--pages DIR] [--repeat N] [--fetch] [--json OUT]

DIR holds ``pages.json`` and ``html/`` (saved pages with ``with``/``without``
snippets); by default ``$WEBGLM_SHARED_DATA/pages`` or ``../shared/data/pages``
beside the checkout. Without saved pages, synthetic pages are generated so the
throughput numbers can still be reproduced (quality is then not reported).
``--fetch`` also serves the pages on loopback and times the hardened fetcher
and the whole retriever stage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webglm.config import ChunkConfig, FetchConfig  # noqa: E402
from webglm.retriever.body import decode_body  # noqa: E402
from webglm.retriever.chunk import chunk_text  # noqa: E402
from webglm.types import Page  # noqa: E402

import importlib  # noqa: E402
from _report import emit  # noqa: E402  (bench/ is the script's folder)

extract_module = importlib.import_module("webglm.retriever.extract")


def _default_dir() -> Path:
    env = os.environ.get("WEBGLM_SHARED_DATA")
    base = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    return base / "pages"


def load_pages(directory: Path) -> tuple[list[tuple[str, dict, str]], bool]:
    """(url, metadata, html) triples; synthetic pages when the directory is missing."""
    meta_path = directory / "pages.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        out = []
        for url, info in meta.items():
            path = directory / "html" / info["file"]
            if path.exists():
                out.append((url, info, decode_body(path.read_bytes(), "")))
        return out, True
    return [(f"https://synthetic.example/{i}", {}, _synthetic(i)) for i in range(120)], False


def _synthetic(i: int) -> str:
    para = " ".join(
        f"Paragraph {i}.{j} reports measured values and the reasons behind them." for j in range(8)
    )
    nav = "".join(f"<li><a href='/s{k}'>Section {k}</a></li>" for k in range(40))
    return (
        f"<html><head><title>Synthetic {i}</title><script>var x={i};</script></head><body><nav><ul>{nav}"
        f"</ul></nav><article><h1>Report {i}</h1>" + f"<p>{para}</p>" * 12 + "</article><footer>(c)</footer>"
        "</body></html>"
    )


def _page(url: str, html: str) -> Page:
    return Page(url=url, final_url=url, status=200, content_type="text/html", text=html, fetched_at=0.0)


def bench_extract(pages, repeat: int) -> dict:
    """Sequential extraction and extraction+chunking rates, best of ``repeat`` runs."""
    rates = {"extract": [], "extract+chunk": [], "extract+chunk(compat)": []}
    n_passages = 0
    for _ in range(repeat):
        start = time.perf_counter()
        texts = [extract_module._extract_sync(_page(u, h)) for u, _, h in pages]
        t_extract = time.perf_counter() - start
        for mode, key in (("tokens", "extract+chunk"), ("webglm-compat", "extract+chunk(compat)")):
            config = ChunkConfig(mode=mode)
            c0 = time.perf_counter()
            count = sum(
                len(chunk_text(t, url=u, title=ti, config=config)) for (u, _, _), (ti, t) in zip(pages, texts)
            )
            rates[key].append(len(pages) / (t_extract + time.perf_counter() - c0))
            if mode == "tokens":
                n_passages = count
        rates["extract"].append(len(pages) / t_extract)
    out = {k: round(max(v), 1) for k, v in rates.items()}
    out["passages_per_page"] = round(n_passages / len(pages), 1)
    return out


def quality(pages) -> dict:
    """Share of `with` snippets kept and `without` snippets dropped."""
    kept = kept_n = dropped = dropped_n = 0
    for url, info, html in pages:
        _, text = extract_module._extract_sync(_page(url, html))
        kept += sum(s in text for s in info.get("with", []))
        kept_n += len(info.get("with", []))
        dropped += sum(s not in text for s in info.get("without", []))
        dropped_n += len(info.get("without", []))
    return {
        "with_kept": round(kept / kept_n, 3),
        "without_dropped": round(dropped / dropped_n, 3),
        "with_n": kept_n,
        "without_n": dropped_n,
    }


async def bench_fetch(pages) -> dict:
    """Serve the pages on loopback; time the hardened fetcher and the whole retriever stage."""
    from webglm.config import SearchConfig
    from webglm.retriever import WebRetriever, make_clients
    from webglm.retriever.fetch import Fetcher
    from webglm.retriever.testing import PageServer
    from webglm.testing import FakeSearchEngine
    from webglm.types import SearchHit

    with PageServer() as server:
        urls = [server.add(f"/p{i}.html", html) for i, (_, _, html) in enumerate(pages)]
        fetch = FetchConfig(allow_hosts=(f"127.0.0.1:{server.port}",), stage_budget=60, total_timeout=120)
        api, client = make_clients(fetch, SearchConfig())
        try:
            start = time.perf_counter()
            result = await Fetcher(client, fetch).fetch_many(urls)
            fetch_s = time.perf_counter() - start
            stage = []
            for q in range(0, min(len(urls), 100), 10):  # ten-result "questions", like a search page
                hits = [SearchHit(u, "", "", i + 1, "fake") for i, u in enumerate(urls[q : q + 10])]
                retriever = WebRetriever(
                    SearchConfig(), fetch, ChunkConfig(), engine=FakeSearchEngine(hits), fetch_client=client
                )
                r = await retriever.retrieve(f"question {q}")
                stage.append((r.timings["fetch"], r.timings["extract"]))
        finally:
            await api.aclose()
            await client.aclose()
    return {
        "fetch_pages_per_s": round(len(result.pages) / fetch_s, 1),
        "fetched": len(result.pages),
        "stage_fetch_median_s": round(statistics.median(s[0] for s in stage), 3),
        "stage_extract_median_s": round(statistics.median(s[1] for s in stage), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=Path, default=_default_dir())
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fetch", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    pages, real = load_pages(args.pages)
    report = {
        "pages": len(pages),
        "saved_pages": real,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    report["throughput_pages_per_s"] = bench_extract(pages, args.repeat)
    if real:
        report["quality"] = quality(pages)
    if args.fetch:
        report["loopback"] = asyncio.run(bench_fetch(pages))
    emit(report, args.json, indent=2)


if __name__ == "__main__":
    main()
