"""Benchmark: what the language routing costs English retrieval on a Stack Exchange site.

Usage::

    python bench/language_routing.py --data DIR [--site beer] [--work /tmp/se-bench]

The packaged MiniLM encoder declares ``languages = ("en",)``: questions detected as
another language rank by BM25 alone. This indexes one site's answers (int8, as in
``bench/contriever_retrieval.py``, whose ``--work`` cache it shares) and reports, for
the site's question titles against their own answers, BM25 recall@1/5/10, MRR and
nDCG@10, then hybrid with the routing on (the encoder as shipped) and off
(``encoder.languages = ()``: every question ranks densely too). Ranking settings are
the defaults with ``mmr_lambda=1.0`` (plain retrieval, no diversity trade-off).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.contriever_retrieval import EVAL, build, fmt  # noqa: E402
from webglm.contriever.data import load_stackexchange, stackexchange_examples  # noqa: E402
from webglm.contriever.evaluate import evaluate_index  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="folder with <site>_Posts.xml dumps")
    parser.add_argument("--site", default="beer", help="site name prefix (default beer)")
    parser.add_argument("--work", default="/tmp/se-bench", type=Path, help="scratch folder for saved indexes")
    args = parser.parse_args()
    found = sorted(args.data.glob(f"{args.site}.*_Posts.xml"))
    if not found:
        sys.exit(f"no {args.site}.*_Posts.xml under {args.data}: pass --data or fix --site")
    site = load_stackexchange(found[0])
    args.work.mkdir(parents=True, exist_ok=True)
    examples = stackexchange_examples(site)
    own: dict[str, set[str]] = {}
    for answer in site.answers:
        own.setdefault(answer.parent, set()).add(answer.id)
    relevant = [own[e.qid] for e in examples]
    index, _rate, _where = build(site, "int8", args.work, {})
    shipped = index.encoder.languages
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "load": round(os.getloadavg()[0], 1), "site": site.name, "questions": len(examples),
              "answers": len(site.answers),
              "bm25": fmt(evaluate_index(index, examples, relevant, "bm25", EVAL))}
    report["hybrid_routing_on"] = {"languages": list(shipped),
                                   **fmt(evaluate_index(index, examples, relevant, "hybrid", EVAL))}
    index.encoder.languages = ()
    try:
        report["hybrid_routing_off"] = {"languages": [],
                                        **fmt(evaluate_index(index, examples, relevant, "hybrid", EVAL))}
    finally:
        index.encoder.languages = shipped
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
