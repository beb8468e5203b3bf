"""Check: do Stack Exchange post ids follow posting time? (answer order as a vote signal)

Usage::

    python bench/answer_order_check.py [--data DIR] [--sites beer,matheducators]

The scorer benchmark (``bench/scorer_accuracy.py``) takes "which answer was posted
first" from post ids. This reads the ``<site>_Posts.xml`` dumps and compares id
order with ``CreationDate`` order among the answers of each question: an answer
counts as out of order when some other answer to the same question has a smaller
id but a later ``CreationDate`` (or the reverse). It also reports the pairs of
answers to one question whose two orders disagree, which is what a pairwise
"earlier answer wins" rule would see. Site-wide, it counts the answers posted before
an answer with a smaller id on the same site (whatever the question).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from itertools import combinations
from pathlib import Path


def answers_by_question(path: Path) -> dict[str, list[tuple[int, str]]]:
    """(id, CreationDate) of every answer, grouped by its question id."""
    grouped: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for _event, row in ET.iterparse(path):
        if row.tag == "row" and row.get("PostTypeId") == "2" and row.get("ParentId"):
            grouped[row.get("ParentId", "")].append((int(row.get("Id", "0")), row.get("CreationDate", "")))
        row.clear()
    return grouped


def check(grouped: dict[str, list[tuple[int, str]]]) -> dict:
    """Answers, answers out of order, and answer pairs whose id and date orders disagree."""
    out_of_order: set[int] = set()
    pairs = disagreeing = 0
    for answers in grouped.values():
        for (id_a, date_a), (id_b, date_b) in combinations(answers, 2):
            pairs += 1
            # ISO 8601 timestamps of one format compare correctly as strings
            if (id_a < id_b) != (date_a < date_b) and date_a != date_b:
                disagreeing += 1
                out_of_order.update((id_a, id_b))
    total = sum(len(a) for a in grouped.values())
    return {"answers": total, "answers_out_of_order": len(out_of_order),
            "answer_pairs": pairs, "pairs_disagreeing": disagreeing}


def site_wide(grouped: dict[str, list[tuple[int, str]]]) -> int:
    """Answers whose CreationDate is earlier than that of some answer with a smaller id."""
    latest, count = "", 0
    for _id, date in sorted(a for answers in grouped.values() for a in answers):
        count += date < latest
        latest = max(latest, date)
    return count


def main() -> None:
    default = Path(os.environ.get("WEBGLM_SHARED_DATA", "data")) / "stackexchange"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default, help="folder with <site>_Posts.xml dumps")
    parser.add_argument("--sites", default="beer,matheducators",
                        help="comma-separated site name prefixes (the scorer benchmark's two sites)")
    args = parser.parse_args()
    report: dict = {}
    merged: dict[str, list[tuple[int, str]]] = {}
    for prefix in args.sites.split(","):
        found = sorted(args.data.glob(f"{prefix}.*_Posts.xml"))
        if not found:
            sys.exit(f"no {prefix}.*_Posts.xml under {args.data}: pass --data or fix --sites")
        for path in found:
            grouped = answers_by_question(path)
            report[path.name] = {**check(grouped), "answers_out_of_order_site_wide": site_wide(grouped)}
            merged.update({f"{path.name}:{q}": a for q, a in grouped.items()})
    report["all"] = {**check(merged), "answers_out_of_order_site_wide":
                     sum(r["answers_out_of_order_site_wide"] for r in report.values())}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
