"""Which signals of a claim and its cited passage agree with ExpertQA's experts? A study.

Every choice is made by 5-fold cross-validation on ``expertqa_rand_val.jsonl`` grouped by
question (no question in two folds); ``expertqa_rand_test.jsonl`` (other questions) is
scored once per variant, and the variant that cross-validation picks is reported with a
95% interval. It also shows how the labels are structured: one expert judged each question,
and the share of a question's other claims that the expert accepted predicts a claim
better than any text signal here.

    python bench/support_study.py DATA_DIR --cache /tmp/support-study   # ~10 min cold, 2 cores

``--cache`` keeps the MiniLM vectors of every claim, question, passage and passage sentence
(computed once with the pipeline's own encoder), so a second run takes seconds.
"""

from __future__ import annotations

import argparse
import json
import pickle
from collections import defaultdict
from pathlib import Path

import numpy as np

from webglm.eval.attribution import load_expertqa, roc_auc, roc_auc_interval, within_question_auc
from webglm.generator.citations import strip_citations
from webglm.generator.support import FEATURES, MAX_WINDOWS, clauses, lexical_features
from webglm.text import sentence_spans

EXTRA = ("question_passage", "log_passage_chars", "log_sentences", "dense_window_second",
         "question_claim", "log_cited_passages")
CONSISTENCY = ("numbers_missing", "names_missing", "rare_missing", "negation_mismatch")
CLAUSE = ("rouge_clause_min", "dense_clause_min")
DIM = 384  # MiniLM's vector size


def sentences(passage: str) -> list[str]:
    return [passage[a:b] for a, b in sentence_spans(passage)[:MAX_WINDOWS] or [(0, len(passage))]]


def encode_split(path: Path, encoder) -> tuple[list, dict[str, np.ndarray]]:
    """The judged claims of one file and the unit vector of every text they need."""
    claims = [c for c in load_expertqa(path) if c.evidence and c.supported is not None]
    texts: set[str] = set()
    for c in claims:
        texts.update([strip_citations(c.text), c.question, *clauses(c.text), *c.evidence])
        for p in c.evidence:
            texts.update(sentences(p))
    order = sorted(texts)
    vecs = encoder.encode(order, "passage")
    return claims, dict(zip(order, vecs))


def passage_row(claim, passage: str, vec: dict[str, np.ndarray]) -> list[float]:
    """The shipped check's twelve features of (claim, passage), then the extra ones."""
    feats, _span = lexical_features(claim.text, passage)
    c, q, p = vec[strip_citations(claim.text)], vec[claim.question], vec[passage]
    wins = np.array([vec[s] for s in sentences(passage)])
    parts = np.array([vec[x] for x in clauses(claim.text)])
    sims = np.sort(wins @ c)
    feats[3], feats[4] = float(sims[-1]), float(c @ p)
    feats[11] = float((parts @ wins.T).max(axis=1).min())
    second = float(sims[-2]) if len(sims) > 1 else float(sims[-1])
    return feats + [float(q @ p), float(np.log1p(len(passage))), float(np.log1p(len(wins))), second,
                    float(c @ q), float(np.log1p(len(claim.evidence)))]


def claim_matrix(claims, vec) -> np.ndarray:
    """One row per claim: its best cited passage's row (best by window precision + similarity,
    the shipped check's choice of the quoted passage), then the claim's vector and its
    elementwise product with the passage's best sentence (for the embedding variants)."""
    rows = []
    for c in claims:
        per = [(passage_row(c, p, vec), p) for p in c.evidence]
        row, passage = max(per, key=lambda rp: rp[0][1] + rp[0][3])
        cv = vec[strip_citations(c.text)]
        best = max(sentences(passage), key=lambda t: float(vec[t] @ cv))
        rows.append(np.concatenate([row, cv, cv * vec[best]]))
    X = np.array(rows)
    return np.hstack([X, answer_context(claims, X[:, :len(FEATURES) + len(EXTRA)])])


def answer_context(claims, X: np.ndarray) -> np.ndarray:
    """The mean of each feature over the other claims of the same answer (one question, one
    system), and a flag for having any: a check sees all sentences of an answer at once."""
    answers: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, c in enumerate(claims):
        answers[(c.question_id, c.system)].append(i)
    ctx, has = X.copy(), np.zeros((len(claims), 1))
    for members in answers.values():
        for i in members:
            others = [j for j in members if j != i]
            if others:
                ctx[i], has[i] = X[others].mean(axis=0), 1.0
    return np.hstack([ctx, has])


def variants() -> dict[str, list[str]]:
    names = list(FEATURES) + list(EXTRA)
    shipped = list(FEATURES)
    return {
        "shipped twelve": shipped,
        "shipped, no number/name/word/negation checks": [f for f in shipped if f not in CONSISTENCY],
        "shipped, no clause minimum": [f for f in shipped if f not in CLAUSE],
        "dense similarities only": ["dense_window", "dense_passage"],
        "shipped + question and passage shape": names,
        "question-passage similarity alone": ["question_passage"],
        "shipped + the claim's vector": shipped + ["claim_vector"],
        "shipped + claim x best-sentence vector product": shipped + ["claim_window_product"],
        "shipped + question and passage shape + the same over the answer's other sentences":
            names + ["answer_context"],
    }


def columns(feats: list[str]) -> list[int]:
    """Column numbers of named features; the two vector blocks are 384 columns each."""
    names = list(FEATURES) + list(EXTRA)
    cols: list[int] = []
    for f in feats:
        if f == "claim_vector":
            cols += range(len(names), len(names) + DIM)
        elif f == "claim_window_product":
            cols += range(len(names) + DIM, len(names) + 2 * DIM)
        elif f == "answer_context":
            cols += range(len(names) + 2 * DIM, 2 * len(names) + 2 * DIM + 1)
        else:
            cols.append(names.index(f))
    return cols


def fit_predict(X_tr, y_tr, X_te, c: float) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))
    return model.fit(X_tr, y_tr).predict_proba(X_te)[:, 1]


def grouped_cv(X, y, groups, c: float, folds: int = 5) -> float:
    from sklearn.model_selection import GroupKFold

    s = np.zeros(len(y))
    for a, b in GroupKFold(folds).split(X, y, groups):
        s[b] = fit_predict(X[a], y[a], X[b], c)
    return roc_auc(list(y), list(s))


def label_structure(claims) -> dict:
    """How much of the label is the question's (its expert's): the share of the question's
    other claims judged supported, as a score for each claim."""
    y = np.array([bool(c.supported) for c in claims])
    byq: dict[str, list[int]] = defaultdict(list)
    bys: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(claims):
        byq[c.question_id].append(i)
        bys[c.system].append(i)
    others = [(y[byq[c.question_id]].sum() - y[i]) / (len(byq[c.question_id]) - 1)
              if len(byq[c.question_id]) > 1 else y.mean() for i, c in enumerate(claims)]
    return {"claims": len(y), "supported": round(float(y.mean()), 3), "questions": len(byq),
            "questions_all_one_label": sum(1 for v in byq.values() if len(set(y[v])) == 1),
            "auc_of_other_claims_same_question": round(roc_auc(list(y), others), 3),
            "supported_by_system": {s: round(float(y[v].mean()), 2) for s, v in sorted(bys.items())}}


def study(val, test, grid=(0.003, 0.03, 0.3)) -> dict:
    """Cross-validated choice of feature set and regularisation; test AUC of every variant."""
    (cv_claims, Xv), (te_claims, Xt) = val, test
    yv = np.array([bool(c.supported) for c in cv_claims])
    yt = np.array([bool(c.supported) for c in te_claims])
    gv = np.array([c.question_id for c in cv_claims])
    names = list(FEATURES) + list(EXTRA)
    out: dict = {"per_feature": {n: [round(roc_auc(list(yv), list(Xv[:, k])), 3),
                                     round(roc_auc(list(yt), list(Xt[:, k])), 3)] for k, n in enumerate(names)},
                 "variants": []}
    for label, feats in variants().items():
        cols = columns(feats)
        for c in grid:
            cv = grouped_cv(Xv[:, cols], yv, gv, c)
            s = fit_predict(Xv[:, cols], yv, Xt[:, cols], c)
            auc = roc_auc(list(yt), list(s))
            out["variants"].append({"variant": label, "C": c, "cv_val_auc": round(cv, 3),
                                    "test_auc": round(auc, 3),
                                    "test_ci95": [round(x, 3) for x in roc_auc_interval(auc, int(yt.sum()), int((~yt).sum()))],
                                    "test_within_question_auc": round(within_question_auc(te_claims, list(s)), 3)})
            print(json.dumps(out["variants"][-1]), flush=True)
    out["chosen_by_cv"] = max(out["variants"], key=lambda v: v["cv_val_auc"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", type=Path, help="folder with expertqa_rand_val.jsonl and expertqa_rand_test.jsonl")
    ap.add_argument("--cache", type=Path, default=None, help="keep the encoded texts in this folder")
    ap.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    args = ap.parse_args()
    encoder = None
    splits = {}
    for name in ("val", "test"):
        cache = args.cache / f"{name}.pkl" if args.cache else None
        if cache and cache.is_file():
            claims, vec = pickle.loads(cache.read_bytes())
        else:
            if encoder is None:
                from webglm.config import RankConfig
                from webglm.contriever import make_encoder

                encoder = make_encoder(RankConfig())
                encoder.load()
            claims, vec = encode_split(args.data / f"expertqa_rand_{name}.jsonl", encoder)
            if cache:
                cache.parent.mkdir(parents=True, exist_ok=True)
                cache.write_bytes(pickle.dumps((claims, vec)))
        splits[name] = (claims, claim_matrix(claims, vec))
    report = {"labels": {n: label_structure(s[0]) for n, s in splits.items()}}
    print(json.dumps(report["labels"], indent=1), flush=True)
    report.update(study(splits["val"], splits["test"]))
    print(json.dumps({"per_feature_auc_val_test": report["per_feature"], "chosen_by_cv": report["chosen_by_cv"]}, indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
