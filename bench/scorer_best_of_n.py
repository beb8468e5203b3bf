"""What best-of-n buys: n = 1 vs 3 vs 5 candidates picked by the scorer, same questions.

    PYTHONPATH=. python bench/scorer_best_of_n.py --nq PATH/TO/nq-open-oracle.dev.jsonl.gz \
        --questions 30 --corpus-size 300 [--docs 10] [--ns 1,3,5] [--rows rows.jsonl]
    PYTHONPATH=. python bench/scorer_best_of_n.py --summarize rows.jsonl

NQ-oracle: the gold Wikipedia passages of the first ``--corpus-size`` questions are written
as a local corpus (one Markdown file per passage), and the first ``--questions`` of those
questions are asked through the full pipeline (MiniLM ranking, SmolLM2 generation,
citation check, scorer). Accuracy is the source's best_subspan_em (a normalised gold
answer inside the normalised answer: ``webglm.eval.metrics.contains``); the support rate
is the share of the chosen answer's sentences that a reference supports, the support
probability the check's mean best probability over them. ``--docs N``
also asks the first N questions of ``bench/ask_latency.py`` about the docs/ folder
(no gold answers there: support rate and time only).

Also reported: how many distinct texts the n candidates had, and the share of candidates
replaced by the extractive fallback (quoted reference sentences), which makes candidates of
one question identical. Each question is answered with every n in turn before the next question, so the machine's
load falls on all n alike. Time is generation plus scoring per question (retrieval and
ranking are the same for every n). Differences against n = 1 are paired per question, with
a seeded bootstrap 95% interval.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _nq(path: str, corpus_size: int, questions: int, out: Path) -> list[tuple[str, list[str]]]:
    """Write the first ``corpus_size`` gold passages under ``out``; return the first questions."""
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            rows.append(json.loads(line))
            if len(rows) >= corpus_size:
                break
    for i, row in enumerate(rows):
        ctx = row["ctxs"][0]
        (out / f"p{i:05d}.md").write_text(f"# {ctx['title']}\n\n{ctx['text']}\n", encoding="utf-8")
    return [(r["question"], list(r["answers"])) for r in rows[:questions]]


def _support_rate(candidate) -> float:
    sentences = candidate.support
    return sum(1 for s in sentences if not s.flagged) / len(sentences) if sentences else 0.0


def _pipelines(corpus: Path, ns: list[int], threads: int):
    """One pipeline per n, sharing the loaded encoder, generator and reward model."""
    from webglm import WebGLM, load_config

    first = None
    out = {}
    for n in ns:
        cfg = load_config(overrides={"scorer.candidates": n, "generate.n_threads": threads})
        if first is None:
            first = WebGLM(cfg, corpus=corpus).load()
            out[n] = first
        else:
            out[n] = WebGLM(cfg, corpus=corpus, encoder=first.encoder, backend=first.writer.backend).load()
    return out


def _ask(glms, questions, golds, log=None):
    """Per n: lists of accuracy (when golds), support rate and seconds, one entry per question."""
    from webglm.eval.metrics import contains
    from webglm.types import EXTRACTIVE_FALLBACK

    res = {n: {"accuracy": [], "support": [], "probability": [], "seconds": [], "distinct": [], "fallback": []}
           for n in glms}
    for glm in glms.values():  # warm-up, not counted: the first call pays one-off costs
        glm.answer(questions[-1])
    for i, q in enumerate(questions):
        for n, glm in glms.items():
            ans = glm.answer(q)
            t = ans.trace.timings
            res[n]["seconds"].append(t.get("generate", 0.0) + t.get("score", 0.0))
            best = ans.candidates[0].candidate if ans.candidates else None
            res[n]["support"].append(_support_rate(best) if best else 0.0)
            if best is not None and best.support_probability is not None:
                res[n]["probability"].append(best.support_probability)
            res[n]["distinct"].append(len({s.candidate.text for s in ans.candidates}))
            res[n]["fallback"].append(sum(s.candidate.finish_reason == EXTRACTIVE_FALLBACK for s in ans.candidates)
                                      / max(1, len(ans.candidates)))
            if golds is not None:
                res[n]["accuracy"].append(contains(ans.text, golds[i]))
        if log is not None:  # partial results survive an interrupted run
            log.write(json.dumps({"question": q, "corpus": "nq_oracle" if golds is not None else "docs", **{str(n): {k: v[-1] for k, v in r.items() if v}
                                                    for n, r in res.items()}}) + "\n")
            log.flush()
        print(f"  {i + 1}/{len(questions)} done", file=sys.stderr, flush=True)
    return res


def _summary(res: dict, base: int = 1) -> dict:
    from webglm.eval.metrics import bootstrap_ci, mean

    out = {}
    for n, r in res.items():
        row = {"questions": len(r["seconds"]), "mean_distinct_candidates": round(mean(r["distinct"]), 2),
               "candidates_quoted_by_fallback": round(mean(r["fallback"]), 3),
               "mean_seconds": round(mean(r["seconds"]), 2),
               "time_vs_n1": round(mean(r["seconds"]) / max(1e-9, mean(res[base]["seconds"])), 2)}
        for key in ("accuracy", "support", "probability"):
            if not r[key]:
                continue
            row[key] = round(mean(r[key]), 3)
            if n != base:
                diff = [a - b for a, b in zip(r[key], res[base][key])]
                lo, hi = bootstrap_ci(diff, seed=0)
                row[f"{key}_diff_vs_n1"] = round(mean(diff), 3)
                row[f"{key}_diff_ci95"] = [round(lo, 3), round(hi, 3)]
        out[f"n={n}"] = row
    return out


def summarize_rows(path: str) -> dict:
    """The report of a (possibly interrupted) run from its ``--rows`` file."""
    parts: dict[str, dict] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        ns = [k for k in row if k.isdigit()]
        part = row.get("corpus") or ("nq_oracle" if "accuracy" in row[ns[0]] else "docs")
        res = parts.setdefault(part, {int(n): {} for n in ns})
        for n in ns:
            for key, value in row[n].items():
                res[int(n)].setdefault(key, []).append(value)
    return {part: _summary({n: {k: r.get(k, []) for k in ("accuracy", "support", "probability", "seconds", "distinct",
                                                                    "fallback")}
                            for n, r in res.items()}) for part, res in parts.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nq", default="")
    ap.add_argument("--summarize", default="", help="only print the report of an earlier run's --rows file")
    ap.add_argument("--questions", type=int, default=30)
    ap.add_argument("--corpus-size", type=int, default=300)
    ap.add_argument("--docs", type=int, default=0)
    ap.add_argument("--ns", default="1,3,5")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", default="", help="append per-question results to this JSONL as they come")
    args = ap.parse_args()
    if args.summarize:
        print(json.dumps(summarize_rows(args.summarize), indent=2))
        return
    if not args.nq:
        raise SystemExit("--nq is required (or --summarize ROWS)")
    ns = [int(x) for x in args.ns.split(",")]
    if ns[0] != 1:
        raise SystemExit("--ns must start with 1 (the baseline)")
    report = {"setup": {**vars(args), "machine": f"{platform.machine()}, {args.threads} threads"}}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "nq"
        corpus.mkdir()
        qa = _nq(args.nq, args.corpus_size, args.questions, corpus)
        glms = _pipelines(corpus, ns, args.threads)
        log = open(args.rows, "a", encoding="utf-8") if args.rows else None
        report["nq_oracle"] = _summary(_ask(glms, [q for q, _ in qa], [g for _, g in qa], log))
    if args.docs:
        from ask_latency import QUESTIONS

        glms = _pipelines(ROOT / "docs", ns, args.threads)
        report["docs"] = _summary(_ask(glms, QUESTIONS[: args.docs], None, log))
    report["seconds_total"] = round(time.time() - t0, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
