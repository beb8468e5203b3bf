"""Benchmark: English text keeps its BM25 terms, and English questions their language.

Usage::

    python bench/english_terms.py --data DIR [--sites beer,matheducators]

For each Stack Exchange site dump under ``DIR`` (``<site>.*_Posts.xml``), compares the BM25
terms :func:`webglm.text.tokenize` gives every question title and answer with those of the
tokenisation before ``webglm.text`` (lower-cased ``[^\\W_]+`` words without English stopwords,
light plural strip: ``regex_terms`` of ``bench/cmrc_tokenizers.py``), and prints how many
texts differ with up to three examples. Then runs :func:`webglm.text.detect_language` on
every question title and lists those not detected as English (as queries, the ranker orders
them by BM25 alone), saying whether the question has answers (is a retrieval query).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cmrc_tokenizers import regex_terms  # noqa: E402
from webglm.contriever.data import load_stackexchange, stackexchange_examples  # noqa: E402
from webglm.text import detect_language, tokenize  # noqa: E402


def site_report(path: Path) -> tuple[dict, list[tuple[str, bool]]]:
    """Term comparison of one site, and the titles of its questions with answers."""
    site = load_stackexchange(path)
    texts = [title for title, _body in site.questions.values()] + [a.text for a in site.answers]
    differ = [t for t in texts if tokenize(t) != regex_terms(t)]
    examples = [{"text": t[:120], "before": sorted(set(regex_terms(t)) - set(tokenize(t)))[:8],
                 "after": sorted(set(tokenize(t)) - set(regex_terms(t)))[:8]} for t in differ[:3]]
    answered = {e.query for e in stackexchange_examples(site)}
    titles = [(title, title in answered) for title, _body in site.questions.values()]
    return {"site": site.name, "titles": len(site.questions), "answers": len(site.answers),
            "texts": len(texts), "differ": len(differ), "examples": examples}, titles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="folder with <site>_Posts.xml dumps")
    parser.add_argument("--sites", default="beer,matheducators", help="comma-separated site name prefixes")
    args = parser.parse_args()
    report: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "load": round(os.getloadavg()[0], 1), "sites": []}
    titles: list[tuple[str, bool]] = []
    for name in args.sites.split(","):
        found = sorted(args.data.glob(f"{name}.*_Posts.xml"))
        if not found:
            sys.exit(f"no {name}.*_Posts.xml under {args.data}: pass --data or fix --sites")
        one, site_titles = site_report(found[0])
        report["sites"].append(one)
        titles += site_titles
    labels = [(t, answered, detect_language(t)) for t, answered in titles]
    report["question_titles"] = len(titles)
    report["titles_with_answers"] = sum(answered for _t, answered in titles)
    report["title_languages"] = dict(Counter(lang for _t, _a, lang in labels).most_common())
    report["not_english"] = [{"title": t, "language": lang, "has_answers": a} for t, a, lang in labels if lang != "en"]
    print(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
