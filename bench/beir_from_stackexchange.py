"""Write a Stack Exchange dump as a BEIR-format folder, for `webglm eval-retriever --format beir`.

    python bench/beir_from_stackexchange.py <shared data>/stackexchange/beer.stackexchange.com_Posts.xml /tmp/beir-beer
    webglm eval-retriever /tmp/beir-beer --format beir --split test --mode hybrid

Queries are the question titles (questions with at least one answer), documents are all
answers of the site (no title: an answer has none), and a question's own answers are its
relevant documents (qrels score 1), as in the Stack Exchange benchmark of
`bench/contriever_retrieval.py`, so the two report comparable numbers. The text of
questions and answers is converted exactly as that benchmark converts it. The content is
CC BY-SA; the folder gets a README naming the site.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webglm.contriever.data import load_stackexchange  # noqa: E402


def write_beir(posts: Path, out: Path) -> dict[str, int]:
    """Write corpus.jsonl, queries.jsonl and qrels/test.tsv for the dump ``posts``."""
    site = load_stackexchange(posts)
    answered: dict[str, list[str]] = {}
    for answer in site.answers:
        if answer.parent in site.questions:
            answered.setdefault(answer.parent, []).append(answer.id)
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for answer in site.answers:
            fh.write(json.dumps({"_id": answer.id, "title": "", "text": answer.text}, ensure_ascii=False) + "\n")
    with (out / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for qid in answered:
            fh.write(json.dumps({"_id": qid, "text": site.questions[qid][0]}, ensure_ascii=False) + "\n")
    with (out / "qrels" / "test.tsv").open("w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for qid, ids in answered.items():
            fh.writelines(f"{qid}\t{aid}\t1\n" for aid in ids)
    (out / "README.txt").write_text(f"{site.attribution}. Converted from {posts.name}.\n", encoding="utf-8")
    return {"documents": len(site.answers), "queries": len(answered)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("posts", type=Path, help="a <site>_Posts.xml dump")
    ap.add_argument("out", type=Path, help="output folder")
    args = ap.parse_args()
    print(json.dumps(write_beir(args.posts, args.out)))


if __name__ == "__main__":
    main()
