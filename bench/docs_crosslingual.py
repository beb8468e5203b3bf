"""Chinese questions over the English docs: hit@5 of the right page without and with query translation.

    PYTHONPATH=. python bench/docs_crosslingual.py [--corpus docs] [--out report.json]

The 20 docs questions of ``bench/ask_latency.py`` in Chinese (``ZH_QUESTIONS``), each with the
English pages that answer it, ranked over the docs corpus (default models and settings,
retrieval only) with ``rank.translate`` off (the ranking before CC-CEDICT query translation)
and on. A hit: a top-5 reference from one of the question's English pages (``docs/zh/`` never
counts). The 20 English questions are ranked both ways too: their references and scores must
be identical, since English questions are never translated.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def page(url: str) -> str:
    return url.split("#", 1)[0].split("docs/", 1)[-1]


def first_hit(pages: list[str], right: tuple[str, ...]) -> int:
    """1-based rank of the first reference from a right page, 0 when none."""
    return next((k + 1 for k, p in enumerate(pages) if p in right), 0)


def main() -> None:
    from ask_latency import QUESTIONS, ZH_QUESTIONS

    from webglm.config import load_config
    from webglm.contriever import make_encoder
    from webglm.corpus import open_corpus

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=str(ROOT / "docs"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    cfg = load_config()
    index = open_corpus(args.corpus, make_encoder(cfg.rank), cfg).index
    report: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load": round(os.getloadavg()[0], 1),
                    "passages": len(index), "questions": len(ZH_QUESTIONS)}
    rows = []
    for question, right in ZH_QUESTIONS:
        row: dict = {"question": question, "right": list(right)}
        for name, translate in (("before", False), ("after", True)):
            rank = dataclasses.replace(cfg.rank, translate=translate)
            t0 = time.perf_counter()
            ranking = index.rank(question, rank)
            pages = [page(r.passage.url) for r in ranking.references]
            row[name] = {"pages": pages, "first_hit": first_hit(pages, right), "abstained": ranking.abstained,
                         "seconds": round(time.perf_counter() - t0, 4)}
        rows.append(row)
    for name in ("before", "after"):
        report[f"hit@5_{name}"] = sum(r[name]["first_hit"] > 0 for r in rows) / len(rows)
        report[f"hit@1_{name}"] = sum(r[name]["first_hit"] == 1 for r in rows) / len(rows)
        report[f"abstained_{name}"] = sum(r[name]["abstained"] for r in rows)
    same = 0
    for question in QUESTIONS:
        runs = [[(r.passage.id, r.score) for r in index.rank(question, dataclasses.replace(cfg.rank, translate=t)).references]
                for t in (False, True)]
        same += runs[0] == runs[1]
    report["english_identical"] = f"{same} of {len(QUESTIONS)}"
    report["rows"] = rows
    text = json.dumps(report, indent=1, ensure_ascii=False)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
