"""Benchmark: time and peak memory of reading hostile local HTML files under the 20 MB cap.

Usage::

    python bench/local_file_limits.py [--only NAME,...] [--index] [--set rank.batch_tokens=0] [--json OUT]

Each file is generated into a temporary folder and read in a fresh process with
``read_corpus`` (extraction + chunking, as ``webglm index build`` does before
encoding); the process reports its wall time and peak RSS (``ru_maxrss``).
``--index`` runs the whole ``webglm index build`` on the file instead (default
encoder; encoding time then depends on how many distinct passages the file has).
Target: every file <= 30 s and <= 1 GB peak RSS on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from _report import emit  # noqa: E402  (bench/ is the script's folder)

ROOT = Path(__file__).resolve().parents[1]
SENTENCE = "The harbour museum opened gallery {i} to visitors, and the tide tables were posted at noon."


def _wide(n: int) -> str:
    return "<html><head><title>wide</title></head><body>" + "<p>x</p>" * n + "</body></html>"


def _distinct(n: int) -> str:
    return "<html><body>" + "".join(f"<p>{SENTENCE.format(i=i)}</p>" for i in range(n)) + "</body></html>"


FILES = {
    # the reliability probe's case: 16 MB of two million sibling paragraphs
    "wide-2M-p": lambda: _wide(2_000_000),
    # 10^6 nested <div> (11 MB): libxml2's depth limit
    "deep-1M-div": lambda: "<html><body>" + "<div>" * 1_000_000 + "deep" + "</div>" * 1_000_000 + "</body></html>",
    # just under the tree budget (100k tags): the slowest file the tree extractors still get
    "tree-budget-95k": lambda: _distinct(47_000),
    # 19 MB of distinct paragraphs: most text, most passages
    "text-19MB": lambda: _distinct(205_000),
    # one 19 MB text node
    "one-node-19MB": lambda: "<html><body><p>" + "tide " * 3_900_000 + "</p></body></html>",
    # 500k hidden spans, each with an inline style
    "hidden-500k": lambda: "<html><body>" + '<span style="display:none">x</span>' * 500_000 + "<p>end</p></body></html>",
    # a 10 MB stylesheet ahead of a short article
    "css-10MB": lambda: ("<html><head><style>" + "".join(f".c{i}{{display:none;color:#fff}}" for i in range(350_000))
                         + "</style></head><body><article><p class='c7'>hidden</p><p>" + SENTENCE.format(i=1)
                         + "</p></article></body></html>"),
}


def _one(path: Path, index: bool, sets: list[str]) -> dict:
    start = time.perf_counter()
    if index:
        out = path.parent / (path.stem + ".idx")
        extra = [arg for s in sets for arg in ("--set", s)]
        subprocess.run([sys.executable, "-m", "webglm", "index", "build", str(path), "--out", str(out), "-q", *extra],
                       check=True, capture_output=True, cwd=ROOT)
        passages = json.loads((out / "meta.json").read_text()).get("count")
    else:
        sys.path.insert(0, str(ROOT))
        from webglm.config import ChunkConfig
        from webglm.retriever import read_corpus

        passages = len(read_corpus([path], ChunkConfig()).passages)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN if index else resource.RUSAGE_SELF)
    return {"seconds": round(time.perf_counter() - start, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "passages": passages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="")
    parser.add_argument("--index", action="store_true")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="--index: a setting for `webglm index build` (repeatable), e.g. rank.batch_tokens=0")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # internal: measure one file
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(args.one, args.index, args.set)))
        return
    names = [n for n in FILES if not args.only or n in args.only.split(",")]
    report = {"machine": f"{platform.machine()} {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}",
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "mode": "index" if args.index else "read",
              "settings": args.set,
              "files": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            path = Path(tmp) / f"{name}.html"
            path.write_text(FILES[name](), encoding="utf-8")
            cmd = [sys.executable, __file__, "--one", str(path)] + (["--index"] if args.index else [])
            cmd += [arg for s in args.set for arg in ("--set", s)]
            done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
            row = json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr[-300:]}
            row["mb"] = round(path.stat().st_size / 2**20, 1)
            report["files"][name] = row
            print(name, row, file=sys.stderr)
    emit(report, args.json, indent=2)


if __name__ == "__main__":
    main()
