"""Does an abandoned stream delay the next request? (loopback only, bounded)

    python bench/serve_cancel.py [--corpus docs] [--drops 3] [--rounds 2] [--set generate.max_new_tokens=300]

With the default models, each round times one plain /v1/ask, then opens ``--drops``
/v1/ask/stream requests and drops each after its first token, then times /v1/ask again.
If abandoned generations ran to their end, the second request would wait for all of them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
QUESTION = "How are citations checked after generation?"


def timed_ask(client, url: str) -> float:
    t0 = time.perf_counter()
    r = client.post(url + "/v1/ask", json={"question": QUESTION})
    r.raise_for_status()
    return time.perf_counter() - t0


def drop_after_first_token(client, url: str) -> None:
    with client.stream("POST", url + "/v1/ask/stream", json={"question": QUESTION}) as r:
        for line in r.iter_lines():
            if line.startswith("event: token"):
                return


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=str(ROOT / "docs"))
    ap.add_argument("--drops", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--set", dest="sets", action="append", default=["generate.max_new_tokens=300"])
    args = ap.parse_args()
    import httpx

    from webglm import WebGLM, load_config
    from webglm.serve import create_app
    from webglm.serve.testing import running

    glm = WebGLM(load_config(overrides=dict(s.split("=", 1) for s in args.sets)), corpus=args.corpus).load()
    before, after = [], []
    with running(create_app(glm, keys=()), glm.config.serve) as url, httpx.Client(timeout=300) as client:
        timed_ask(client, url)  # warm-up
        for _ in range(args.rounds):
            before.append(timed_ask(client, url))
            for _ in range(args.drops):
                drop_after_first_token(client, url)
            after.append(timed_ask(client, url))
        queue = client.get(url + "/health").json()["queue"]
    print(json.dumps({"alone_s": [round(x, 2) for x in before], "after_drops_s": [round(x, 2) for x in after],
                      "median_alone_s": round(statistics.median(before), 2),
                      "median_after_drops_s": round(statistics.median(after), 2), "drops": args.drops,
                      "queue": queue, "settings": args.sets}, indent=1))


if __name__ == "__main__":
    main()
