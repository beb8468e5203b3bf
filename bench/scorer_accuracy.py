"""Pairwise accuracy on held-out Stack Exchange questions: baselines vs the trained scorer.

    PYTHONPATH=. python bench/scorer_accuracy.py --data PATH/TO/stackexchange \
        --scorer webglm/data/scorer-se-minilm

Split: question-grouped 70/10/20 (seed 0), the split the shipped scorer was trained on.
Reports on the test questions: "longer answer wins", logistic regression on frozen
MiniLM embeddings (answer-embedding difference; C picked on validation), logistic
regression on the scorer's inputs (cos(q, a) + text features), and the trained
scorer loaded from disk. Also 5-fold grouped cross-validation over all pairs for the
three cheap models, which is steadier than one 20% split of ~200 questions.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np


def _embed(texts: list[str]) -> dict[str, np.ndarray]:
    import torch

    from webglm.scorer.model import RewardNet, load_encoder, packaged_encoder_dir

    tok, enc, pooling = load_encoder(packaged_encoder_dir())
    net = RewardNet(tok, enc, pooling, n_features=1).eval()
    out: dict[str, np.ndarray] = {}
    with torch.inference_mode():
        for i in range(0, len(texts), 32):
            chunk = texts[i : i + 32]
            for t, e in zip(chunk, net.embed(chunk, 256).numpy()):
                out[t] = e
    return out


def _diffs(pairs, emb):
    from webglm.scorer.features import feature_matrix

    def side(which):
        q = [p.question for p in pairs]
        a = [getattr(p, which) for p in pairs]
        e = np.stack([emb[t] for t in a])
        cos = (e * np.stack([emb[t] for t in q])).sum(1, keepdims=True)
        return e, np.hstack([cos, feature_matrix(q, a)])

    (ec, fc), (er, fr) = side("chosen"), side("rejected")
    return ec - er, fc - fr


def _fit(x: np.ndarray, c: float):
    """Symmetric pairwise logistic regression (no intercept): P(chosen) = σ(w · (x_c − x_r))."""
    from sklearn.linear_model import LogisticRegression

    sd = x.std(0) + 1e-6
    xs = np.vstack([x / sd, -x / sd])
    y = np.r_[np.ones(len(x)), np.zeros(len(x))]
    model = LogisticRegression(C=c, fit_intercept=False, max_iter=3000).fit(xs, y)
    return lambda z: (z / sd) @ model.coef_[0]


def _acc(margin: np.ndarray) -> float:
    return float(np.mean(margin > 0) + 0.5 * np.mean(margin == 0))


def _lr_split(train_x, val_x, test_x, grid=(0.001, 0.01, 0.1, 1.0)):
    best = max(grid, key=lambda c: _acc(_fit(train_x, c)(val_x)))
    return _acc(_fit(train_x, best)(test_x)), best


def _cv(pairs, x, c, k=5):
    from sklearn.model_selection import GroupKFold

    groups = np.array([p.group_key() for p in pairs])
    margin = np.zeros(len(pairs))
    for tr, te in GroupKFold(k).split(x, groups=groups):
        margin[te] = _fit(x[tr], c)(x[te])
    return _acc(margin)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--scorer", default="", help="trained scorer folder (default: the shipped one)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from webglm.scorer.data import build_stackexchange_pairs, grouped_split
    from webglm.scorer.evaluate import evaluate_scorer, length_baseline
    from webglm.scorer.reward import RewardModel

    t0 = time.time()
    pairs = build_stackexchange_pairs(args.data)
    s = grouped_split(pairs, validation=0.1, test=0.2, seed=0)
    emb = _embed(sorted({t for p in pairs for t in (p.question, p.chosen, p.rejected)}))
    t_embed = time.time() - t0
    (etr, ftr), (eva, fva), (ete, fte) = (_diffs(part, emb) for part in (s.train, s.validation, s.test))
    emb_acc, emb_c = _lr_split(etr, eva, ete)
    feat_acc, feat_c = _lr_split(ftr, fva, fte)
    t1 = time.time()
    scorer = evaluate_scorer(RewardModel(args.scorer or None, threads=args.threads), list(s.test))
    t_score = time.time() - t1
    e_all, f_all = _diffs(pairs, emb)
    report = {
        "pairs": s.sizes(), "test_questions": scorer["questions"],
        "test": {"length_baseline": length_baseline(list(s.test))["accuracy"],
                 "frozen_embedding_lr": emb_acc, "feature_lr": feat_acc, "trained_scorer": scorer["accuracy"]},
        "cv5_all_pairs": {"length_baseline": length_baseline(pairs)["accuracy"],
                          "frozen_embedding_lr": _cv(pairs, e_all, emb_c), "feature_lr": _cv(pairs, f_all, feat_c)},
        "chosen_C": {"frozen_embedding_lr": emb_c, "feature_lr": feat_c},
        "seconds": {"embed_all_texts": round(t_embed, 1), "scorer_test": round(t_score, 1),
                    "total": round(time.time() - t0, 1)},
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, no GPU",
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
