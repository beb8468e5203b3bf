"""Benchmark: does a change to the scorer's text features move the shipped scorer's accuracy?

Usage::

    git show 0cfaf6b:webglm/scorer/features.py > /tmp/old_features.py
    python bench/scorer_feature_drift.py --data DIR/genai.stackexchange.com_Posts.xml \\
        --data DIR/quantumcomputing.stackexchange.com_Posts.xml --old /tmp/old_features.py --pairs 300

The shipped reward model (trained with the feature code of its time) scores the same
Stack Exchange preference pairs twice: with the feature functions of ``--old`` and with
the current ``webglm.scorer.features``; the pairwise accuracy of each is printed. Pairs:
every pair of the dumps (default recipe), shuffled with seed 0, the first ``--pairs``.
Pass ``--only old`` or ``--only new`` to run one side.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", action="append", required=True, help="a *_Posts.xml dump (repeatable)")
    ap.add_argument("--old", required=True, help="a features.py file with the earlier feature code")
    ap.add_argument("--pairs", type=int, default=300)
    ap.add_argument("--only", choices=("old", "new"), default=None)
    args = ap.parse_args()

    from webglm.scorer import features as new
    from webglm.scorer import model
    from webglm.scorer.data import StackExchangeRecipe, build_stackexchange_pairs
    from webglm.scorer.reward import load_reward_model

    spec = importlib.util.spec_from_file_location("old_features", args.old)
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)  # type: ignore[union-attr]
    pairs = build_stackexchange_pairs(args.data, StackExchangeRecipe())
    random.Random(0).shuffle(pairs)
    pairs = pairs[: args.pairs]
    reward = load_reward_model().load()
    for name, matrix in (("old", old.feature_matrix), ("new", new.feature_matrix)):
        if args.only not in (None, name):
            continue
        model.feature_matrix = matrix  # the reward model computes its features through this name
        t0 = time.perf_counter()
        right = sum(a > b for a, b in (reward.score(p.question, [p.chosen, p.rejected]) for p in pairs))
        print(json.dumps({"features": name, "pairs": len(pairs), "accuracy": round(right / len(pairs), 4),
                          "seconds": round(time.perf_counter() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()
