"""Offline end-to-end evaluation benchmark on a Stack Exchange dump.

Two runs, both without network:

1. ``qa``: a WebGLM-QA-format file derived from the dump (question = title; references = the
   first paragraphs of the thread's answers; gold = the accepted answer's first paragraph with
   ``[n]`` naming the reference it came from) answered with references given (generator only).
2. ``corpus``: the same questions answered in corpus mode, the corpus being every *other*
   thread of the dump (the evaluated threads are excluded so gold answers cannot leak).

Usage::

    python bench/eval_offline.py POSTS_XML OUT_DIR [--n 20] [--answerer pipeline|extractive]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from webglm.eval.cli_support import eval_command, summary_line
from webglm.eval.datasets import load_dataset
from webglm.eval.stackexchange import export_corpus


def derive_webglm_qa(posts: Path, out: Path, n: int) -> list[str]:
    """Write ``n`` WebGLM-QA rows derived from the dump; returns their example ids."""
    ds = load_dataset(posts, "stackexchange", top_n=3, min_answers=2)
    rows, ids = [], []
    for ex in ds.examples[:n]:
        paras = [a.split("\n")[0] for a in ex.answers]  # first paragraph of each gold answer
        refs = list(reversed(paras))  # accepted answer last, so the right citation is not always [1]
        gold = f"{paras[0]} [{refs.index(paras[0]) + 1}]"
        rows.append({"id": ex.id, "question": ex.question, "answer": gold, "references": refs})
        ids.append(ex.id)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("posts", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--answerer", default="pipeline", choices=("pipeline", "extractive"))
    ap.add_argument("--skip-corpus", action="store_true")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    qa = args.out / "se_webglm_qa.jsonl"
    ids = derive_webglm_qa(args.posts, qa, args.n)
    t0 = time.perf_counter()
    report = eval_command(qa, out_dir=args.out / f"qa-{args.answerer}", answerer=args.answerer)
    print(summary_line(report), f"({time.perf_counter() - t0:.1f} s)")

    if args.skip_corpus or args.answerer != "pipeline":
        return
    corpus = args.out / "corpus"
    files = export_corpus(args.posts, corpus, exclude=ids)
    t0 = time.perf_counter()
    # Same loader options and limit as derive_webglm_qa, so the same questions are asked.
    report = eval_command(args.posts, out_dir=args.out / "corpus-run", fmt="stackexchange", limit=args.n,
                          corpus=corpus, dataset_options={"top_n": 3, "min_answers": 2})
    print(f"corpus: {files} thread files;", summary_line(report), f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
