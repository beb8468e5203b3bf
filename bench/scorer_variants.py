"""Cheap scorer variants on frozen MiniLM embeddings: do richer inputs beat the text features?

    PYTHONPATH=. python bench/scorer_variants.py --data PATH/TO/stackexchange

Same pairs and question-grouped 70/10/20 split (seed 0) as bench/scorer_accuracy.py.
Every variant is a symmetric pairwise logistic regression on the difference of the two
answers' inputs (C picked on validation), reported on the test split and in 5-fold
grouped cross-validation over all pairs:

* ``features``: cos(q, a) + the 12 text features (what the shipped scorer's head sees);
* ``+ answer embedding``: plus the 384-d answer embedding, whole or reduced by PCA;
* ``+ q*a``: plus the element-wise product of question and answer embeddings (a
  question-aware relevance signal), whole or reduced by PCA;
* gradient-boosted trees on the feature differences (non-linear interactions).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scorer_accuracy import _acc, _embed, _fit


def _inputs(pairs, emb) -> dict[str, np.ndarray]:
    from webglm.scorer.features import feature_matrix

    def side(which):
        q = [p.question for p in pairs]
        a = [getattr(p, which) for p in pairs]
        e = np.stack([emb[t] for t in a])
        qe = np.stack([emb[t] for t in q])
        feats = np.hstack([(e * qe).sum(1, keepdims=True), feature_matrix(q, a)])
        return feats, e, e * qe

    (fc, ec, pc), (fr, er, pr) = side("chosen"), side("rejected")
    return {"features": fc - fr, "answer": ec - er, "qa": pc - pr}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch
    from sklearn.decomposition import PCA
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import GroupKFold

    from webglm.scorer.data import build_stackexchange_pairs, grouped_split

    torch.set_num_threads(args.threads)
    pairs = build_stackexchange_pairs(args.data)
    s = grouped_split(pairs, validation=0.1, test=0.2, seed=0)
    emb = _embed(sorted({t for p in pairs for t in (p.question, p.chosen, p.rejected)}))
    parts = {name: _inputs(list(part), emb) for name, part in
             (("train", s.train), ("validation", s.validation), ("test", s.test), ("all", pairs))}
    groups = np.array([p.group_key() for p in pairs])
    answers = np.stack([emb[t] for t in {a for p in pairs for a in (p.chosen, p.rejected)}])

    variants: dict[str, callable] = {
        "features": lambda d: d["features"],
        "features + answer embedding (384)": lambda d: np.hstack([d["features"], d["answer"]]),
        "features + q*a (384)": lambda d: np.hstack([d["features"], d["qa"]]),
    }
    for k in (8, 16, 32):
        pca_a = PCA(k, random_state=0).fit(answers)
        pca_q = PCA(k, random_state=0).fit(parts["train"]["qa"])
        variants[f"features + answer embedding PCA-{k}"] = (
            lambda d, p=pca_a: np.hstack([d["features"], d["answer"] @ p.components_.T]))
        variants[f"features + q*a PCA-{k}"] = lambda d, p=pca_q: np.hstack([d["features"], d["qa"] @ p.components_.T])

    report: dict = {"pairs": s.sizes(), "variants": {}}
    for name, make in variants.items():
        x = {k: make(v) for k, v in parts.items()}
        c = max((0.001, 0.01, 0.1, 1.0), key=lambda c: _acc(_fit(x["train"], c)(x["validation"])))
        margin = np.zeros(len(pairs))
        for tr, te in GroupKFold(5).split(x["all"], groups=groups):
            margin[te] = _fit(x["all"][tr], c)(x["all"][te])
        report["variants"][name] = {"C": c, "test": round(_acc(_fit(x["train"], c)(x["test"])), 3),
                                    "cv5": round(_acc(margin), 3)}
        print(name, report["variants"][name], flush=True)
    f_tr = parts["train"]["features"]
    x = np.vstack([f_tr, -f_tr])
    y = np.r_[np.ones(len(f_tr)), np.zeros(len(f_tr))]
    for lr in (0.03, 0.1):
        gbdt = HistGradientBoostingClassifier(learning_rate=lr, max_iter=200, max_depth=3, random_state=0).fit(x, y)
        f_te = parts["test"]["features"]
        margin = gbdt.predict_proba(f_te)[:, 1] - gbdt.predict_proba(-f_te)[:, 1]
        report["variants"][f"gradient-boosted trees on features (lr {lr})"] = {"test": round(_acc(margin), 3)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
