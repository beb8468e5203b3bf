"""Re-create the shipped scorer (webglm/data/scorer-se-minilm) from Stack Exchange dumps.

    python bench/scorer_train_default.py --data PATH/TO/stackexchange --out webglm/data/scorer-se-minilm

Trains on the train split of a question-grouped 70/10/20 split (seed 0), picks the
epoch by validation accuracy and reports test accuracy next to the length baseline.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", required=True, help="Stack Exchange dump folders or *_Posts.xml files")
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()

    from webglm.scorer.cli_support import train_scorer_command
    from webglm.scorer.train import TrainScorerConfig

    start = time.time()
    metrics = train_scorer_command(args.data, args.out, config=TrainScorerConfig(threads=args.threads),
                                   resume=args.resume)
    print(json.dumps({**metrics, "wall_seconds": round(time.time() - start, 1)}, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
