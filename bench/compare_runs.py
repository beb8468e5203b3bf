"""Compare two ``webglm eval`` run folders answer by answer.

Usage::

    python bench/compare_runs.py BEFORE_RUN AFTER_RUN [--show N] [--json OUT]

Reads ``results.jsonl`` of both folders (the last row per example id counts, as in the
eval summary), pairs the answers by example id and reports: how many examples both runs
answered, how many answers changed (any difference after whitespace is normalised), and
in each run how many answers open a sentence with an interrogative word (a wh-word such
as "what" or "which", or a verb that opens a yes/no question such as "is", "does",
"can"), the sign that an extractive answer quotes a question a reference asks rather
than a statement. It is a pattern match, so a sentence such as "Which can cause ..."
counts too: read the hits with ``--show``. ``--show N`` prints up to N such answers of each run.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

# A sentence start (text start or after . ! ? or a line break), optional citation marks,
# then an interrogative word: extractive answers end every sentence with "[n]." so the
# question mark is gone and the opening word is what is left to go by.
_WH = "what|why|how|when|where|which|who|whom|whose"
_YES_NO = "is|are|was|were|am|do|does|did|can|could|should|would|will|has|have"
_QUESTION_OPENING = re.compile(rf"(?:^|[.!?]\s+|\n\s*)(?:\[\d+\]\s*)*(?:{_WH}|{_YES_NO})\b", re.IGNORECASE)


def load_answers(run: Path) -> dict[str, str]:
    """Answer text by example id for the ``ok`` rows of ``run/results.jsonl``."""
    path = run / "results.jsonl"
    if not path.is_file():
        sys.exit(f"{path} not found: pass a folder written by `webglm eval --out`")
    answers: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            print(f"{path}:{number}: not JSON, skipped", file=sys.stderr)
            continue
        if row.get("status") == "ok":
            answers[str(row["id"])] = row.get("answer", "")
        else:
            answers.pop(str(row.get("id")), None)
    return answers


def opens_with_question(answer: str) -> bool:
    """Whether some sentence of ``answer`` starts with an interrogative word."""
    return bool(_QUESTION_OPENING.search(answer.strip()))


def compare(before: dict[str, str], after: dict[str, str]) -> dict:
    """Counts over the example ids both runs answered."""
    common = sorted(before.keys() & after.keys())
    norm = lambda text: " ".join(text.split())  # noqa: E731
    return {
        "examples_in_both": len(common),
        "only_before": len(before.keys() - after.keys()),
        "only_after": len(after.keys() - before.keys()),
        "answers_changed": sum(norm(before[i]) != norm(after[i]) for i in common),
        "before_question_openings": sum(opens_with_question(before[i]) for i in common),
        "after_question_openings": sum(opens_with_question(after[i]) for i in common),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="first run folder (with results.jsonl)")
    parser.add_argument("after", type=Path, help="second run folder")
    parser.add_argument("--show", type=int, default=0, help="print up to N question-opening answers per run")
    parser.add_argument("--json", type=Path, help="also write the counts here")
    args = parser.parse_args()
    before, after = load_answers(args.before), load_answers(args.after)
    report = compare(before, after)
    text = json.dumps(report, indent=1)
    print(text)
    for label, answers in (("before", before), ("after", after)):
        hits = [a for a in answers.values() if opens_with_question(a)][: args.show]
        for answer in hits:
            print(f"--- {label}: {answer[:300]}")
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
