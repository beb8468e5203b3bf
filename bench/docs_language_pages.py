"""Do the docs pages in other languages (docs/zh/) change what English questions retrieve?

    PYTHONPATH=. python bench/docs_language_pages.py

Ranks the English docs questions of ``bench/ask_latency.py`` over the docs corpus with and
without its ``zh/`` folder (default models and settings, retrieval only) and reports how many
top-5 reference lists are the same, in the same order, and the largest score change.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    from ask_latency import QUESTIONS

    from webglm.config import load_config
    from webglm.contriever import make_encoder
    from webglm.corpus import open_corpus

    cfg = load_config()
    enc = make_encoder(cfg.rank)
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        english = Path(tmp) / "docs"
        shutil.copytree(ROOT / "docs", english, ignore=shutil.ignore_patterns("zh"))
        for name, path in (("with_zh", ROOT / "docs"), ("without_zh", english)):
            index = open_corpus(path, enc, cfg).index
            runs[name] = [[(r.passage.url.split("docs/")[-1], r.score) for r in index.rank(q, cfg.rank).references]
                          for q in QUESTIONS]
    pairs = list(zip(runs["with_zh"], runs["without_zh"]))
    print(json.dumps({
        "questions": len(QUESTIONS),
        "same_references_same_order": sum([u for u, _ in a] == [u for u, _ in b] for a, b in pairs),
        "questions_citing_zh": sum(any(u.startswith("zh/") for u, _ in a) for a, _ in pairs),
        "max_score_change": round(max(abs(x[1] - y[1]) for a, b in pairs for x, y in zip(a, b)), 4),
        "differ": [{"question": q, "with_zh": [u for u, _ in a], "without_zh": [u for u, _ in b]}
                   for q, (a, b) in zip(QUESTIONS, pairs) if [u for u, _ in a] != [u for u, _ in b]],
    }, indent=1))


if __name__ == "__main__":
    main()
