"""Stack Exchange retrieval benchmark: question title -> its own answers among all answers of the site.

    python bench/contriever_retrieval.py \
        --data <shared data>/stackexchange --tune beer --work /tmp/se-bench

Reports recall@k / MRR / nDCG for BM25, dense (fp32, int8) and hybrid (fp32, int8),
indexing throughput (passages/s) for each, a fusion sweep on the tuning site (the
chosen setting is then applied unchanged to the other site), and the abstention
calibration: best fused score of each question over a 30-passage pool from its own
site (relevant) and from the other site (irrelevant).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from webglm.config import RankConfig
from webglm.contriever import BM25Index, CorpusIndex, Ranker, make_encoder
from webglm.contriever.data import load_stackexchange, stackexchange_examples
from webglm.contriever.evaluate import answer_passages, evaluate_index

EVAL = RankConfig(mmr_lambda=1.0, per_url_cap=100)  # plain retrieval: no diversity trade-off


def build(site, quantize: str, work: Path, encoders: dict) -> tuple[CorpusIndex, float, str]:
    """Index the site's answers (or reload a saved index); returns (index, passages/s, where
    the speed comes from: "timed now" or "cached build of <date>" for a reused --work folder)."""
    enc = encoders.setdefault(quantize, make_encoder(RankConfig(quantize=quantize, cache_size=200_000)))
    folder = work / f"{site.name}-{quantize}"
    stats = folder / "build.json"
    if stats.is_file():
        index = CorpusIndex.load(folder, enc, EVAL)
        # refill the encoder cache from stored vectors so later Ranker runs need no model calls
        vecs = index.vectors(range(len(index)))
        enc.load()
        from webglm.contriever.cache import text_key

        for p, v in zip(index.passages, vecs):
            enc.cache.put(text_key(enc.cache_key, "passage", p.text), v)
        saved = json.loads(stats.read_text())
        return index, saved["passages_per_s"], f"cached build of {saved.get('measured_at', 'an unknown date')}"
    t0 = time.perf_counter()
    index = CorpusIndex.build(answer_passages(site.name, site.answers), enc, EVAL)
    pps = len(index) / (time.perf_counter() - t0)
    index.save(folder)
    stats.write_text(json.dumps({"passages_per_s": pps,
                                 "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}))
    return index, pps, "timed now"


def bm25_rate(site) -> float:
    t0 = time.perf_counter()
    BM25Index().add(a.text for a in site.answers)
    return len(site.answers) / (time.perf_counter() - t0)


def fmt(res: dict) -> dict:
    keys = ("recall@1", "recall@5", "recall@10", "mrr", "ndcg@10", "seconds_per_query")
    return {k: round(res[k], 4) for k in keys}


def sweep(index, examples, relevant) -> list[dict]:
    rows = []
    for fusion in ("score", "rrf"):
        for w in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
            cfg = dataclasses.replace(EVAL, fusion=fusion, dense_weight=w)
            res = evaluate_index(index, examples, relevant, "hybrid", cfg)
            rows.append({"fusion": fusion, "dense_weight": w, **fmt(res)})
    return rows


def best_scores(ranker, questions, pools) -> list[float]:
    return [ranker.rank(q, pool).best_score for q, pool in zip(questions, pools)]


def calibration(sites, indexes, encoder, cfg) -> dict:
    """Best fused score for own-site pools (relevant) vs other-site pools (irrelevant)."""
    ranker = Ranker(encoder, dataclasses.replace(cfg, min_score=-1e9, min_lexical_score=0.0))
    out = {}
    for name, other in ((sites[0].name, sites[1].name), (sites[1].name, sites[0].name)):
        site = next(s for s in sites if s.name == name)
        questions = [e.query for e in stackexchange_examples(site)][:150]
        own, far = indexes[name], indexes[other]
        pool_own = [[own.passages[i] for i in own.lexical.top(q, 30)[0]] for q in questions]
        pool_far = [[far.passages[i] for i in far.lexical.top(q, 30)[0]] for q in questions]
        out[name] = {"relevant": best_scores(ranker, questions, pool_own),
                     "irrelevant": best_scores(ranker, questions, pool_far)}
    rel = np.concatenate([v["relevant"] for v in out.values()])
    irr = np.concatenate([v["irrelevant"] for v in out.values()])
    table = []
    for t in np.arange(0.20, 0.46, 0.025):
        table.append({"min_score": round(float(t), 3), "relevant_kept": round(float((rel >= t).mean()), 3),
                      "irrelevant_abstained": round(float((irr < t).mean()), 3)})
    pct = lambda a: [round(float(x), 3) for x in np.percentile(a, [5, 25, 50, 75, 95])]  # noqa: E731
    return {"relevant_pct_5_25_50_75_95": pct(rel), "irrelevant_pct_5_25_50_75_95": pct(irr), "thresholds": table}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="folder with <site>_Posts.xml dumps")
    ap.add_argument("--tune", default="beer", help="site whose questions choose the fusion setting")
    ap.add_argument("--work", default="/tmp/se-bench", help="scratch folder for saved indexes")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    sites = [load_stackexchange(p) for p in sorted(Path(args.data).glob("*_Posts.xml"))]
    sites.sort(key=lambda s: not s.name.startswith(args.tune))
    encoders: dict = {}
    report: dict = {"sites": {}}
    indexes = {}
    chosen = None
    for site in sites:
        examples = stackexchange_examples(site)
        rel: dict[str, set[str]] = {}
        for a in site.answers:
            rel.setdefault(a.parent, set()).add(a.id)
        relevant = [rel[e.qid] for e in examples]
        idx32, pps32, speed32 = build(site, "none", work, encoders)
        idx8, pps8, speed8 = build(site, "int8", work, encoders)
        indexes[site.name] = idx8
        # hybrid indexing speed is derived (1 / (1/dense + 1/bm25)), not timed; a reused --work
        # folder reports the speed of its cached build, and says so
        entry: dict = {"questions": len(examples), "answers": len(site.answers),
                       "index_speed": {"fp32": speed32, "int8": speed8, "hybrid": "derived from dense and bm25"}}
        if chosen is None:
            entry["sweep"] = sweep(idx32, examples, relevant)
            top = max(entry["sweep"], key=lambda r: (r["recall@5"], r["mrr"]))
            chosen = dataclasses.replace(EVAL, fusion=top["fusion"], dense_weight=top["dense_weight"])
            report["chosen"] = {"fusion": chosen.fusion, "dense_weight": chosen.dense_weight, "tuned_on": site.name}
        rate_bm25 = bm25_rate(site)
        for label, index, mode, pps in (("bm25", idx32, "bm25", rate_bm25), ("dense_fp32", idx32, "dense", pps32),
                                        ("hybrid_fp32", idx32, "hybrid", 1 / (1 / pps32 + 1 / rate_bm25)),
                                        ("dense_int8", idx8, "dense", pps8),
                                        ("hybrid_int8", idx8, "hybrid", 1 / (1 / pps8 + 1 / rate_bm25))):
            entry[label] = {**fmt(evaluate_index(index, examples, relevant, mode, chosen)),
                            "index_passages_per_s": round(pps, 1)}
        entry["hybrid_int8_with_mmr_defaults"] = fmt(evaluate_index(
            idx8, examples, relevant, "hybrid", dataclasses.replace(chosen, mmr_lambda=RankConfig().mmr_lambda)))
        report["sites"][site.name] = entry
        print(json.dumps({site.name: {k: v for k, v in entry.items() if k != "sweep"}}, indent=1), flush=True)
    report["calibration"] = calibration(sites, indexes, encoders["int8"], dataclasses.replace(
        chosen, mmr_lambda=RankConfig().mmr_lambda))
    (work / "report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps({"chosen": report["chosen"], "sweep": report["sites"][sites[0].name]["sweep"],
                      "calibration": report["calibration"]}, indent=1))


if __name__ == "__main__":
    main()
