"""Pairwise accuracy on held-out Stack Exchange questions: baselines vs the trained scorer.

    PYTHONPATH=. python bench/scorer_accuracy.py --data PATH/TO/stackexchange \
        --scorer webglm/data/scorer-se-minilm

Split: question-grouped 70/10/20 (seed 0), the split the shipped scorer was trained on.
Reports on the test questions: "longer answer wins", logistic regression on frozen
MiniLM embeddings (answer-embedding difference; C picked on validation), logistic
regression on the scorer's inputs (cos(q, a) + text features), and the trained
scorer loaded from disk. Also 5-fold grouped cross-validation over all pairs for the
three cheap models, which is steadier than one 20% split of ~200 questions.

Reference rows that no scorer of generated answers can use: "the earlier answer wins"
(Stack Exchange post ids follow posting time) and the feature regression with answer
order added. They show how much of the vote is decided by timing rather than text.
The test pairs are also split by whether the earlier or the later answer won, and the
shipped scorer is compared pair by pair with the length rule (a sign test over the
pairs where exactly one of them is right).
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


def _order(pairs) -> np.ndarray:
    """+1 where the chosen answer was posted first, -1 where it was posted later, shape (n, 1)."""
    return np.sign([[int(p.meta["rejected_id"]) - int(p.meta["chosen_id"])] for p in pairs]).astype(float)


def _sign_test(a_right: np.ndarray, b_right: np.ndarray) -> dict[str, float]:
    """Pairs only ``a`` gets right, pairs only ``b`` gets right, and the exact two-sided p-value."""
    from math import comb

    only_a, only_b = int(np.sum(a_right & ~b_right)), int(np.sum(b_right & ~a_right))
    n, k = only_a + only_b, min(only_a, only_b)
    p = min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0
    return {"only_scorer_right": only_a, "only_length_right": only_b, "p_value": round(p, 4)}


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
    ap.add_argument("--seed", type=int, default=0,
                    help="seed of the question-grouped split (0: the split the shipped scorer was trained on)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from webglm.scorer.data import build_stackexchange_pairs, count_words, grouped_split
    from webglm.scorer.evaluate import length_baseline, pairwise_accuracy, score_pairs
    from webglm.scorer.reward import RewardModel

    t0 = time.time()
    pairs = build_stackexchange_pairs(args.data)
    s = grouped_split(pairs, validation=0.1, test=0.2, seed=args.seed)
    emb = _embed(sorted({t for p in pairs for t in (p.question, p.chosen, p.rejected)}))
    t_embed = time.time() - t0
    (etr, ftr), (eva, fva), (ete, fte) = (_diffs(part, emb) for part in (s.train, s.validation, s.test))
    emb_acc, emb_c = _lr_split(etr, eva, ete)
    feat_acc, feat_c = _lr_split(ftr, fva, fte)
    t1 = time.time()
    scored = score_pairs(list(s.test), RewardModel(args.scorer or None, threads=args.threads).score)
    scorer = pairwise_accuracy(list(s.test), scored)
    t_score = time.time() - t1
    e_all, f_all = _diffs(pairs, emb)
    # answer order: a reference for what the votes follow, never a scorer input
    otr, ova, ote, o_all = (_order(part) for part in (s.train, s.validation, s.test, pairs))
    timed_acc, timed_c = _lr_split(np.hstack([ftr, otr]), np.hstack([fva, ova]), np.hstack([fte, ote]))
    margins = {
        "length_rule": np.array([count_words(p.chosen) - count_words(p.rejected) for p in s.test], dtype=float),
        "feature_lr": _fit(ftr, feat_c)(fte),
        "trained_scorer": np.array([c - r for c, r in scored]),
    }
    later_won = ote[:, 0] < 0
    by_order = {
        name: {"earlier_answer_won": _acc(m[~later_won]), "later_answer_won": _acc(m[later_won])}
        for name, m in margins.items()
    }
    report = {
        "pairs": s.sizes(), "test_questions": scorer["questions"],
        "test": {"length_baseline": length_baseline(list(s.test))["accuracy"],
                 "frozen_embedding_lr": emb_acc, "feature_lr": feat_acc, "trained_scorer": scorer["accuracy"]},
        "cv5_all_pairs": {"length_baseline": length_baseline(pairs)["accuracy"],
                          "frozen_embedding_lr": _cv(pairs, e_all, emb_c), "feature_lr": _cv(pairs, f_all, feat_c)},
        "reference_not_text": {
            "test": {"earlier_answer_wins": _acc(ote[:, 0]), "feature_lr_plus_order": timed_acc},
            "cv5_all_pairs": {"earlier_answer_wins": _acc(o_all[:, 0]),
                              "feature_lr_plus_order": _cv(pairs, np.hstack([f_all, o_all]), timed_c)},
        },
        "test_by_answer_order": {"pairs": {"earlier_answer_won": int((~later_won).sum()),
                                           "later_answer_won": int(later_won.sum())}, **by_order},
        "trained_scorer_vs_length_rule_test": _sign_test(margins["trained_scorer"] > 0, margins["length_rule"] > 0),
        "chosen_C": {"frozen_embedding_lr": emb_c, "feature_lr": feat_c, "feature_lr_plus_order": timed_c},
        "seconds": {"embed_all_texts": round(t_embed, 1), "scorer_test": round(t_score, 1),
                    "total": round(time.time() - t0, 1)},
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, no GPU",
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
