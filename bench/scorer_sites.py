"""Leave-site-out pairwise accuracy, on raw and SHP-style de-biased Stack Exchange pairs.

    PYTHONPATH=. python bench/scorer_sites.py --data PATH/TO/stackexchange [--embed]

Pairs: ``build_stackexchange_pairs`` with the default recipe (two answers to one question
at least 2 votes apart) per dump. "De-biased" test pairs are the SHP subset
(``debiased``: the preferred answer was posted later and scored at least twice as much),
where votes cannot simply follow who answered first.

Each content site (beer, matheducators, quantumcomputing, genai) is held out in turn:
models train on the other content sites (optionally plus the six meta sites, an
out-of-domain split) and are tested on every pair of the held-out site. Models are
symmetric pairwise logistic regressions, P(chosen) = σ(w · (x_chosen − x_rejected)), on
the scorer's text features (``webglm.scorer.features``), trained on raw or on de-biased
pairs. With ``--embed`` the frozen MiniLM cos(question, answer) is added (what the
shipped scorer's head sees). The shipped scorer is reported too; it was trained on beer
and matheducators, so only its quantumcomputing and genai rows are out of site.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

CONTENT = ("beer.stackexchange.com", "matheducators.stackexchange.com",
           "quantumcomputing.stackexchange.com", "genai.stackexchange.com")


def _acc(margin: np.ndarray) -> float:
    return float(np.mean(margin > 0) + 0.5 * np.mean(margin == 0)) if len(margin) else float("nan")


def _fit(x: np.ndarray, c: float):
    """Symmetric pairwise logistic regression without intercept; returns a margin function."""
    from sklearn.linear_model import LogisticRegression

    sd = x.std(0) + 1e-6
    model = LogisticRegression(C=c, fit_intercept=False, max_iter=5000)
    model.fit(np.vstack([x / sd, -x / sd]), np.r_[np.ones(len(x)), np.zeros(len(x))])
    return lambda z: (z / sd) @ model.coef_[0]


def _features(pairs, cos=None) -> np.ndarray:
    """Feature differences chosen − rejected, one row per pair."""
    from webglm.scorer.features import feature_matrix
    from webglm.scorer.reward import strip_citation_marks

    def side(which):
        answers = [strip_citation_marks(getattr(p, which)) for p in pairs]
        f = feature_matrix([p.question for p in pairs], answers)
        if cos is not None:
            f = np.hstack([f, np.array([[cos[(p.question, getattr(p, which))]] for p in pairs])])
        return f

    return side("chosen") - side("rejected")


def _cosines(pairs, cache: str = "") -> dict:
    """Frozen MiniLM cos(question, answer) for every (question, answer) in ``pairs``;
    embeddings are kept in ``cache`` (an .npz) between runs when given."""
    texts = sorted({t for p in pairs for t in (p.question, p.chosen, p.rejected)})
    if cache and Path(cache).is_file():
        stored = np.load(cache, allow_pickle=False)
        emb = dict(zip(stored["texts"].tolist(), stored["vectors"]))
    else:
        emb = _embed(texts)
        if cache:
            np.savez(cache, texts=np.array(texts), vectors=np.stack([emb[t] for t in texts]))
    return {(p.question, a): float(emb[p.question] @ emb[a]) for p in pairs for a in (p.chosen, p.rejected)}


def _embed(texts: list[str]) -> dict:
    import torch

    from webglm.scorer.model import RewardNet, load_encoder, packaged_encoder_dir

    tok, enc, pooling = load_encoder(packaged_encoder_dir())
    net = RewardNet(tok, enc, pooling, n_features=1).eval()
    emb = {}
    with torch.inference_mode():
        for i in range(0, len(texts), 32):
            chunk = texts[i: i + 32]
            for t, e in zip(chunk, net.embed(chunk, 256).numpy()):
                emb[t] = e
    return emb


def _length_margin(pairs) -> np.ndarray:
    from webglm.scorer.data import count_words

    return np.array([count_words(p.chosen) - count_words(p.rejected) for p in pairs], dtype=float)


def _scorer_margin(pairs, scorer) -> np.ndarray:
    from webglm.scorer.evaluate import score_pairs

    return np.array([c - r for c, r in score_pairs(pairs, scorer.score)])


def _sign_p(a_right: np.ndarray, b_right: np.ndarray) -> float:
    from math import comb

    only_a, only_b = int(np.sum(a_right & ~b_right)), int(np.sum(b_right & ~a_right))
    n, k = only_a + only_b, min(only_a, only_b)
    return min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0


def _models(train, train_meta, c):
    """Name -> (training pairs) for the regressions compared on every held-out site."""
    from webglm.scorer.data import debiased

    return {"features_raw": train, "features_debiased": debiased(train),
            "features_raw+meta": train + train_meta, "features_debiased+meta": debiased(train + train_meta)}


def run(args) -> dict:
    from webglm.scorer.data import build_stackexchange_pairs, debiased

    t0 = time.time()
    files = sorted(Path(args.data).glob("*Posts.xml"))
    pairs = [p for f in files for p in build_stackexchange_pairs(f)]
    cos = _cosines(pairs, args.cache) if args.embed else None
    t_embed = time.time() - t0
    meta = [p for p in pairs if p.source not in CONTENT]
    scorer = None
    if args.scorer != "none":
        from webglm.scorer.reward import RewardModel

        scorer = RewardModel(args.scorer or None, threads=args.threads)
    margins: dict[str, dict[str, np.ndarray]] = {}
    test_all = []
    for site in CONTENT:
        test = [p for p in pairs if p.source == site]
        train = [p for p in pairs if p.source in CONTENT and p.source != site]
        test_all.extend(test)
        x_test = _features(test, cos)
        rows = {"length_rule": _length_margin(test)}
        for name, tr in _models(train, meta, args.c).items():
            rows[name] = _fit(_features(tr, cos), args.c)(x_test)
        if scorer is not None:
            rows["shipped_scorer"] = _scorer_margin(test, scorer)
        margins[site] = rows
    deb_mask = {id(p) for p in debiased(test_all)}
    report = {"pairs": {}, "raw": {}, "debiased": {}}
    for site in CONTENT:
        test = [p for p in test_all if p.source == site]
        mask = np.array([id(p) in deb_mask for p in test])
        report["pairs"][site] = {"raw": len(test), "debiased": int(mask.sum())}
        report["raw"][site] = {k: round(_acc(m), 3) for k, m in margins[site].items()}
        report["debiased"][site] = {k: round(_acc(m[mask]), 3) for k, m in margins[site].items()}
    pooled = {k: np.concatenate([margins[s][k] for s in CONTENT]) for k in margins[CONTENT[0]]}
    mask = np.array([id(p) in deb_mask for p in test_all])
    report["pooled_raw"] = {k: round(_acc(m), 3) for k, m in pooled.items()}
    report["pooled_debiased"] = {k: round(_acc(m[mask]), 3) for k, m in pooled.items()}
    length_right = pooled["length_rule"][mask] > 0
    report["sign_test_vs_length_debiased_p"] = {k: round(_sign_p(m[mask] > 0, length_right), 4)
                                                for k, m in pooled.items() if k != "length_rule"}
    report["seconds"] = {"embed": round(t_embed, 1), "total": round(time.time() - t0, 1)}
    report["setup"] = {"C": args.c, "embed": args.embed, "machine": platform.machine(),
                       "meta_pairs": len(meta), "meta_debiased": len(debiased(meta))}
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--embed", action="store_true", help="add the frozen MiniLM cos(q, a) feature")
    ap.add_argument("--cache", default="", help="with --embed: .npz file keeping the embeddings between runs")
    ap.add_argument("--scorer", default="", help="scorer folder to report ('' = shipped, 'none' = skip)")
    ap.add_argument("--c", type=float, default=0.1, help="inverse L2 strength of the regressions")
    ap.add_argument("--threads", type=int, default=2)
    print(json.dumps(run(ap.parse_args()), indent=2))


if __name__ == "__main__":
    main()
