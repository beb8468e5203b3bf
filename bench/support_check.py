"""Citation support check vs ExpertQA's expert labels: measure features, train the combiner.

Every ExpertQA claim with evidence and a Complete / Partial / Incomplete label is described
by the features of ``webglm.generator.support`` against each cited passage (a claim takes
its best passage). A logistic regression is fitted on one split and tested on the other
(the splits hold different questions), so every AUC below is on questions it never saw.

    python bench/support_check.py DATA_DIR                 # per-feature AUCs, both directions
    python bench/support_check.py DATA_DIR --write webglm/data/support-lr.json
    python bench/support_check.py DATA_DIR --speed        # ms per sentence-reference pair

``DATA_DIR`` holds ``expertqa_rand_val.jsonl`` (train) and ``expertqa_rand_test.jsonl`` (test).
The shipped model is trained on val only; the threshold is the one that maximises balanced
accuracy on val.
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from pathlib import Path

import numpy as np

from webglm.config import RankConfig
from webglm.eval.attribution import balanced_accuracy, load_expertqa, roc_auc
from webglm.generator.support import FEATURES, SupportModel

DENSE = ("dense_window", "dense_passage", "dense_clause_min")


def featurize(claims, model: SupportModel) -> tuple[np.ndarray, np.ndarray]:
    """(claims x passages-best) feature matrix, labels; a claim's row is its best passage by
    the lexical window precision (the combiner is applied to that row)."""
    rows, labels = [], []
    for c in claims:
        per = [f for p in c.evidence for f, _ in model.features([c.text], p)]
        rows.append(np.array(per, dtype=np.float64))
        labels.append(bool(c.supported))
    return rows, np.array(labels)


def fit(rows, y, cols, c: float = 1.0):
    """Logistic regression on each passage row with the claim's label; a claim scores its best row."""
    from sklearn.linear_model import LogisticRegression

    X = np.concatenate([r[:, cols] for r in rows])
    Y = np.concatenate([[lab] * len(r) for r, lab in zip(rows, y)])
    mu, sd = X.mean(0), X.std(0) + 1e-9
    lr = LogisticRegression(C=c, max_iter=2000).fit((X - mu) / sd, Y)
    w = lr.coef_[0] / sd
    b = float(lr.intercept_[0] - (lr.coef_[0] * mu / sd).sum())
    return w, b


def score(rows, cols, w, b) -> np.ndarray:
    return np.array([float(np.max(1 / (1 + np.exp(-(r[:, cols] @ w + b))))) for r in rows])


def best_threshold(y, s) -> float:
    grid = np.unique(np.round(s, 3))
    return float(max(grid, key=lambda t: balanced_accuracy(list(y), list(s >= t))))


def speed(data: Path, encoder, n: int = 60) -> None:
    """ms per sentence-reference pair on pipeline-sized references (the first ~100 words of a
    cited passage, like a 100-token chunk): three claims against five references, as one
    answer is checked; cold (nothing cached) and again (reference sentences cached)."""
    model = SupportModel.load(encoder=encoder)
    claims = [c for c in load_expertqa(data / "expertqa_rand_val.jsonl") if c.evidence][:n * 3]
    refs = [" ".join(c.evidence[0].split()[:100]) for c in claims]
    for label in ("cold", "cached"):
        t0 = time.perf_counter()
        pairs = 0
        for k in range(0, len(claims) - 2, 3):
            texts = [c.text for c in claims[k:k + 3]]
            for ref in refs[k:k + 5]:
                model.score(texts, ref)
                pairs += len(texts)
        print(f"{label}: {(time.perf_counter() - t0) / pairs * 1000:.1f} ms per sentence-reference pair "
              f"({pairs} pairs, model {model.name})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--write", type=Path, default=None, help="write the model trained on val here")
    ap.add_argument("--no-dense", action="store_true", help="lexical features only (no encoder)")
    ap.add_argument("--features", type=Path, default=None, help="cache feature rows under this stem")
    ap.add_argument("--speed", action="store_true", help="time the shipped model per sentence-reference pair")
    args = ap.parse_args()
    encoder = None
    if not args.no_dense:
        from webglm.contriever import make_encoder

        encoder = make_encoder(RankConfig())
        encoder.load()
    if args.speed:
        speed(args.data, encoder)
        return
    probe = SupportModel({"dense_window": 1.0}, encoder=encoder)
    splits = {}
    for name in ("val", "test"):
        claims = [c for c in load_expertqa(args.data / f"expertqa_rand_{name}.jsonl")
                  if c.evidence and c.supported is not None]
        cache = args.features and args.features.with_suffix(f".{name}.pkl")
        t0 = time.perf_counter()
        if cache and cache.is_file():
            rows, y = pickle.loads(cache.read_bytes())
        else:
            rows, y = featurize(claims, probe)
            if cache:
                cache.write_bytes(pickle.dumps((rows, y)))
        pairs = sum(len(r) for r in rows)
        print(f"{name}: {len(claims)} claims ({int(y.sum())} supported), {pairs} pairs, "
              f"{(time.perf_counter() - t0) / pairs * 1000:.1f} ms/pair (cold encoder cache)")
        for k, f in enumerate(FEATURES):
            print(f"  {f:18s} AUC {roc_auc(list(y), [float(r[:, k].max()) for r in rows]):.3f}")
        splits[name] = (rows, y)
    variants = {"lexical": [k for k, f in enumerate(FEATURES) if f not in DENSE]}
    if encoder is not None:
        variants["dense"] = list(range(len(FEATURES)))
    shipped: dict = {"name": "support-lr", "format": "webglm-support/1", "features": list(FEATURES),
                     "trained_on": "ExpertQA rand val (expert labels: Complete vs Partial/Incomplete)"}
    for variant, cols in variants.items():
        for train, test in (("val", "test"), ("test", "val")):
            w, b = fit(*splits[train], cols)
            s_tr, s_te = score(splits[train][0], cols, w, b), score(splits[test][0], cols, w, b)
            t = best_threshold(splits[train][1], s_tr)
            y = splits[test][1]
            auc = roc_auc(list(y), list(s_te))
            print(f"{variant}: train {train} -> test {test}: AUC {auc:.3f}, balanced accuracy "
                  f"{balanced_accuracy(list(y), list(s_te >= t)):.3f} at threshold {t:.3f}")
            if train == "val":
                weights = {FEATURES[k]: round(float(v), 6) for k, v in zip(cols, w)}
                weights["bias"] = round(b, 6)
                suffix = "" if variant == "dense" else "_lexical"
                shipped.update({f"weights{suffix}": weights, f"threshold{suffix}": round(t, 4),
                                f"test_auc{suffix}": round(auc, 4)})
    if args.write:
        shipped.setdefault("weights", shipped["weights_lexical"])
        shipped.setdefault("threshold", shipped["threshold_lexical"])
        shipped["dense"] = encoder is not None
        args.write.write_text(json.dumps(shipped, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.write}")

if __name__ == "__main__":
    main()
