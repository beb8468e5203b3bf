"""The frozen MiniLM read as a cross-encoder over question + answer, leave-site-out.

    nice -n 10 env PYTHONPATH=. python bench/scorer_cross_frozen.py --data PATH/TO/stackexchange \
        [--dims 16] [--c 0.1] [--boot 1000]

The head-only baseline of ``bench/scorer_cross.py`` (same cached inputs, ``[CLS] question
[SEP] answer [SEP]`` cut to 128 tokens): the pretrained top block runs once per text, its
masked mean is reduced by PCA (fitted on the training sites' texts) to ``--dims`` dimensions,
and a symmetric pairwise logistic regression on the chosen − rejected difference is fitted,
with and without the log word-count ratio as one more input. Settings are fixed in advance;
each content site is held out in turn, and the training sets are those of
``bench/scorer_cross.py`` (de-biased, de-biased + the six meta sites, raw with WebGLM's
short-answer drop). Cheap: every variant and site in a few minutes once the cache exists.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scorer_cross import (CrossHead, _key, log_len_margin, lower_states, per_site_report, summarise,  # noqa: E402
                          training_sets)
from scorer_sites import CONTENT, _fit  # noqa: E402


def pooled_top(keys: list, states: dict, enc, batch: int = 64) -> dict:
    """(question, answer) -> masked mean of the pretrained top block's output."""
    import torch

    model = CrossHead(enc, 1, 0)
    model.train(False)
    model.head = torch.nn.Identity()
    out = {}
    with torch.inference_mode():
        for i in range(0, len(keys), batch):
            chunk = keys[i: i + batch]
            x = model([states[k] for k in chunk])
            for k, v in zip(chunk, x.numpy()):
                out[k] = v
    return out


def site_rows(site, pairs, meta, emb: dict, args) -> tuple[list, dict]:
    """Margins of the probes on the held-out ``site``'s pairs."""
    from sklearn.decomposition import PCA

    from webglm.scorer.data import count_words

    test = [p for p in pairs if p.source == site]
    train_sites = [p for p in pairs if p.source in CONTENT and p.source != site]
    rows = {"length_rule": np.array([count_words(p.chosen) - count_words(p.rejected) for p in test], float)}
    fit_keys = sorted({_key(p, w) for p in train_sites + meta for w in ("chosen", "rejected")})
    pca = PCA(args.dims, random_state=0).fit(np.stack([emb[k] for k in fit_keys]))

    def diff(ps):
        side = {w: pca.transform(np.stack([emb[_key(p, w)] for p in ps])) for w in ("chosen", "rejected")}
        return side["chosen"] - side["rejected"]

    x_test = diff(test)
    for name, tr in training_sets(train_sites, meta).items():
        x = diff(tr)
        rows[f"frozen_{name}"] = _fit(x, args.c)(x_test)
        rows[f"frozen+length_{name}"] = _fit(np.c_[x, log_len_margin(tr)], args.c)(np.c_[x_test, log_len_margin(test)])
    return test, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--cache-dir", default=os.path.join(os.environ.get("WEBGLM_CACHE") or "~/.cache/webglm",
                                                         "scorer-cross"))
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--dims", type=int, default=16, help="PCA dimensions of the pooled output")
    ap.add_argument("--c", type=float, default=0.1)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch

    from webglm.scorer.data import build_stackexchange_pairs

    torch.set_num_threads(args.threads)
    t0 = time.time()
    pairs = [p for f in sorted(Path(args.data).glob("*Posts.xml")) for p in build_stackexchange_pairs(f)]
    meta = [p for p in pairs if p.source not in CONTENT]
    keys = sorted({_key(p, w) for p in pairs for w in ("chosen", "rejected")})
    _, enc, states = lower_states(keys, 1, args.max_len, Path(args.cache_dir).expanduser())
    emb = pooled_top(keys, states, enc)
    tests, rows = [], {}
    for site in CONTENT:
        test, m = site_rows(site, pairs, meta, emb, args)
        tests.extend(test)
        for k, v in m.items():
            rows.setdefault(k, []).append(v)
    joined = {k: np.concatenate(v) for k, v in rows.items()}
    report = {"per_site": per_site_report(CONTENT, tests, joined, args.boot),
              "pooled": summarise(tests, joined, args.boot), "setup": vars(args)}
    report["seconds"] = round(time.time() - t0, 1)
    report["machine"] = {"machine": platform.machine(), "cpus": os.cpu_count(), "load_avg": os.getloadavg()}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
