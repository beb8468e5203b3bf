"""Question-answer interaction features from the frozen MiniLM, leave-site-out, raw and de-biased.

    nice -n 10 env PYTHONPATH=. python bench/scorer_qa.py --data PATH/TO/stackexchange \
        [--cache-dir ~/.cache/webglm/scorer-emb] [--sample 500] [--boot 1000]

Does the model get better when it sees the answer *with* its question? On top of the
scorer's twelve text features (``webglm.scorer.features``) this adds, from the packaged
all-MiniLM-L6-v2 (ONNX Runtime int8, the ranking encoder; batches sorted by length):

* ``cos_qa``: cos(question, answer), the answer cut at the encoder's 256 tokens;
* ``max_window`` / ``mean_window``: the best and the mean cos(question, window) over the
  answer's windows of up to 60 words cut at sentence ends (first 8 windows), so a long
  answer that addresses the question in one place is not averaged away;
* ``consensus``: cos(answer, mean of the other answers to the same question): how much
  an answer says what the others say (at best-of-n time: the other candidates).

Each content site is held out in turn (train on the other three, optionally plus the six
meta sites); symmetric pairwise logistic regression (C = 0.1) trained on raw or de-biased
pairs, with and without a length control (WebGLM's: answers over the median length of
their question's answers cut to it, answers under half of it dropped from training).
Accuracies (ties half) per site and pooled, with 95% intervals from a bootstrap over
questions, and the paired difference to the length rule with its interval.

Embeddings are kept in ``--cache-dir`` (one .npz per text set, keyed by a digest of the
texts) so a re-run costs seconds. ``--sample N`` only times N texts and exits (estimate
before a full run).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scorer_sites import CONTENT, _acc, _fit, _length_margin, _sign_p  # noqa: E402

QA_NAMES = ("cos_qa", "max_window", "mean_window", "consensus")
_SENT_END = re.compile(r"(?<=[.!?])\s+|\n+")


def windows(text: str, words: int = 60, most: int = 8) -> list[str]:
    """Runs of whole sentences of up to ``words`` words (a longer sentence is its own window)."""
    out, cur, n = [], [], 0
    for sent in (s.strip() for s in _SENT_END.split(text)):
        if not sent:
            continue
        k = len(sent.split())
        if cur and n + k > words:
            out.append(" ".join(cur))
            cur, n = [], 0
        cur.append(sent)
        n += k
    if cur:
        out.append(" ".join(cur))
    return out[:most] or [text[:400]]


def embed_cached(texts: list[str], cache_dir: Path, kind: str) -> dict[str, np.ndarray]:
    """Unit MiniLM vectors for ``texts``, kept in ``cache_dir`` between runs."""
    texts = sorted(set(texts))
    digest = hashlib.blake2b("\x00".join(texts).encode(), digest_size=8).hexdigest()
    file = cache_dir / f"minilm-{kind}-{digest}.npz"
    if file.is_file():
        vecs = np.load(file, allow_pickle=False)["vectors"]
        return dict(zip(texts, vecs))
    from webglm.config import RankConfig
    from webglm.contriever.encoders import make_encoder

    enc = make_encoder(RankConfig(batch_size=16, cache_size=0))
    vecs = enc.encode(texts, "query" if kind == "q" else "passage")
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp.npz")
    np.savez(tmp, vectors=vecs)
    os.replace(tmp, file)
    return dict(zip(texts, vecs))


def qa_features(pairs, cache_dir: Path, progress=print, with_windows: bool = True) -> dict:
    """(question, answer) -> the :data:`QA_NAMES` values, for every answer in ``pairs``
    (without windows, ``max_window`` and ``mean_window`` are NaN)."""
    from webglm.scorer.reward import strip_citation_marks

    answers: dict[str, set[str]] = {}
    for p in pairs:
        answers.setdefault(p.question, set()).update((p.chosen, p.rejected))
    clean = {a: strip_citation_marks(a) for s in answers.values() for a in s}
    t0 = time.time()
    q_vec = embed_cached(list(answers), cache_dir, "q")
    a_vec = embed_cached(list(clean.values()), cache_dir, "a")
    progress(f"questions + answers embedded in {time.time() - t0:.0f} s")
    wins = {a: windows(c) for a, c in clean.items()} if with_windows else {}
    w_vec = embed_cached([w for ws in wins.values() for w in ws], cache_dir, "w") if with_windows else {}
    progress(f"windows embedded, {time.time() - t0:.0f} s in all")
    out = {}
    for q, group in answers.items():
        vecs = {a: a_vec[clean[a]] for a in group}
        total = sum(vecs.values())
        for a in group:
            cos_w = np.array([q_vec[q] @ w_vec[w] for w in wins[a]]) if with_windows else np.array([np.nan])
            others = total - vecs[a]
            norm = np.linalg.norm(others)
            cons = float(vecs[a] @ others / norm) if len(group) > 1 and norm > 0 else 0.0
            out[(q, a)] = [float(q_vec[q] @ vecs[a]), float(cos_w.max()), float(cos_w.mean()), cons]
    return out


def features(pairs, qa=None, names: tuple[str, ...] = QA_NAMES, cut: dict | None = None) -> np.ndarray:
    """chosen − rejected differences of the text features (+ the named QA features);
    ``cut`` (group -> words) truncates the text the text features see."""
    from webglm.scorer.data import truncate_words
    from webglm.scorer.features import feature_matrix
    from webglm.scorer.reward import strip_citation_marks

    cols = [QA_NAMES.index(n) for n in names]

    def text(p, which):
        t = strip_citation_marks(getattr(p, which))
        return truncate_words(t, cut[p.group]) if cut else t

    def side(which):
        f = feature_matrix([p.question for p in pairs], [text(p, which) for p in pairs])
        if qa is not None and cols:
            f = np.hstack([f, np.array([[qa[(p.question, getattr(p, which))][c] for c in cols] for p in pairs])])
        return f

    return side("chosen") - side("rejected")


def length_controlled(pairs):
    """WebGLM's control on training pairs: answers are cut to their question's median
    length in words (returned per group, for :func:`features`), pairs with an answer
    under half of it dropped."""
    from webglm.scorer.data import count_words

    lengths: dict[str, list[int]] = {}
    for p in pairs:
        lengths.setdefault(p.group, []).extend((count_words(p.chosen), count_words(p.rejected)))
    cut = {g: max(1, int(np.median(v))) for g, v in lengths.items()}
    kept = [p for p in pairs if min(count_words(p.chosen), count_words(p.rejected)) >= cut[p.group] / 2]
    return kept, cut


def boot_ci(right: np.ndarray, groups: list[str], reps: int, seed: int = 0, base: np.ndarray | None = None):
    """95% bootstrap interval over questions of mean(right) (or of mean(right − base))."""
    vals = right.astype(float) - (0 if base is None else base.astype(float))
    index: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        index.setdefault(g, []).append(i)
    blocks = [np.array(v) for v in index.values()]
    rng = np.random.default_rng(seed)
    sums = np.array([vals[b].sum() for b in blocks])
    sizes = np.array([len(b) for b in blocks])
    draws = rng.integers(0, len(blocks), size=(reps, len(blocks)))
    stats = sums[draws].sum(1) / sizes[draws].sum(1)
    return [round(float(np.percentile(stats, 2.5)), 3), round(float(np.percentile(stats, 97.5)), 3)]


def _right(margin: np.ndarray) -> np.ndarray:
    return (margin > 0) + 0.5 * (margin == 0)


MODELS = {  # name -> (QA features used, train on de-biased, add meta sites, length control)
    "text_debiased": ((), True, False, False),
    "text+qa_debiased": (QA_NAMES, True, False, False),
    "text+qa_debiased+meta": (QA_NAMES, True, True, False),
    "text+qa_debiased_lenctl": (QA_NAMES, True, False, True),
    "text+qa_raw": (QA_NAMES, False, False, False),
    "text+qa_raw_lenctl": (QA_NAMES, False, False, True),
    "text+cos_qa_debiased": (("cos_qa",), True, False, False),
    "text+consensus_debiased": (("consensus",), True, False, False),
}


def _site_margins(site, pairs, meta, qa, c, available=QA_NAMES):
    from webglm.scorer.data import debiased

    test = [p for p in pairs if p.source == site]
    train_all = [p for p in pairs if p.source in CONTENT and p.source != site]
    rows = {"length_rule": _length_margin(test)}
    for name, (names, deb, with_meta, lenctl) in MODELS.items():
        train = train_all + (meta if with_meta else [])
        train = debiased(train) if deb else train
        train, cut = length_controlled(train) if lenctl else (train, None)
        names = tuple(n for n in names if n in available)
        rows[name] = _fit(features(train, qa, names, cut), c)(features(test, qa, names))
    return test, rows


def report(pairs, meta, qa, c, reps, available=QA_NAMES) -> dict:
    from webglm.scorer.data import debiased

    out: dict = {"pairs": {}, "raw": {}, "debiased": {}}
    pooled: dict[str, list] = {}
    tests = []
    for site in CONTENT:
        test, rows = _site_margins(site, pairs, meta, qa, c, available)
        tests.extend(test)
        for k, m in rows.items():
            pooled.setdefault(k, []).append(m)
        deb = np.array([id(p) in {id(d) for d in debiased(test)} for p in test])
        out["pairs"][site] = {"raw": len(test), "debiased": int(deb.sum())}
        for split, mask in (("raw", np.ones(len(test), bool)), ("debiased", deb)):
            g = [p.group for p, keep in zip(test, mask) if keep]
            out[split][site] = {k: [round(_acc(m[mask]), 3), boot_ci(_right(m[mask]), g, reps)] for k, m in rows.items()}
    deb_ids = {id(p) for p in debiased(tests)}
    deb = np.array([id(p) in deb_ids for p in tests])
    for split, mask in (("raw", np.ones(len(tests), bool)), ("debiased", deb)):
        g = [p.group for p, keep in zip(tests, mask) if keep]
        length = _right(np.concatenate(pooled["length_rule"])[mask])
        entry = {}
        for k, parts in pooled.items():
            r = _right(np.concatenate(parts)[mask])
            entry[k] = {"acc": round(float(r.mean()), 3), "ci": boot_ci(r, g, reps),
                        "minus_length": round(float(r.mean() - length.mean()), 3),
                        "minus_length_ci": boot_ci(r, g, reps, base=length),
                        "sign_p": round(_sign_p(r == 1, length == 1), 4)}
        out[f"pooled_{split}"] = entry
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--cache-dir", default=os.path.join(os.environ.get("WEBGLM_CACHE") or "~/.cache/webglm",
                                                         "scorer-emb"))
    ap.add_argument("--sample", type=int, default=0, help="only time embedding this many answers, then exit")
    ap.add_argument("--no-windows", action="store_true", help="skip the per-window features (half the embedding)")
    ap.add_argument("--c", type=float, default=0.1)
    ap.add_argument("--boot", type=int, default=1000)
    args = ap.parse_args()
    from webglm.scorer.data import build_stackexchange_pairs

    t0 = time.time()
    files = sorted(Path(args.data).glob("*Posts.xml"))
    pairs = [p for f in files for p in build_stackexchange_pairs(f)]
    cache = Path(args.cache_dir).expanduser()
    if args.sample:
        texts = sorted({p.chosen for p in pairs})[: args.sample]
        t1 = time.time()
        embed_cached(texts, cache / "sample", "a")
        n_all = len({t for p in pairs for t in (p.chosen, p.rejected)})
        dt = time.time() - t1
        print(json.dumps({"sample": len(texts), "seconds": round(dt, 1), "answers": n_all,
                          "estimate_answers_s": round(dt / len(texts) * n_all)}))
        return
    qa = qa_features(pairs, cache, progress=lambda m: print(m, file=sys.stderr), with_windows=not args.no_windows)
    t_embed = time.time() - t0
    meta = [p for p in pairs if p.source not in CONTENT]
    available = tuple(n for n in QA_NAMES if not (args.no_windows and "window" in n))
    res = report(pairs, meta, qa, args.c, args.boot, available)
    res["seconds"] = {"build+embed": round(t_embed, 1), "total": round(time.time() - t0, 1)}
    res["setup"] = {"C": args.c, "machine": platform.machine(), "cpus": os.cpu_count(),
                    "load_avg": os.getloadavg(), "qa_features": available, "pairs": len(pairs), "meta_pairs": len(meta)}
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
