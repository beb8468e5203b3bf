"""Length-matched training, leave-site-out: the text features decide only between answers of
similar length, the length rule decides the rest.

    PYTHONPATH=. python bench/scorer_length_matched.py --data PATH/TO/stackexchange

For each threshold tau and training set (raw or de-biased pairs of the other content sites,
with or without the meta sites), the features (all but log_words) are fitted on the training
pairs whose log word counts differ by less than tau; a test pair uses that model when its
answers differ by less than tau, and "the longer answer wins" otherwise. Prints pooled
(raw, de-biased) accuracy over the four held-out content sites.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scorer_sites import CONTENT, _acc, _features, _fit  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    args = ap.parse_args()
    from webglm.scorer.data import build_stackexchange_pairs, debiased

    pairs = [p for f in sorted(Path(args.data).glob("*Posts.xml")) for p in build_stackexchange_pairs(f)]
    x = _features(pairs)
    idx = {id(p): i for i, p in enumerate(pairs)}
    deb = {id(p) for p in debiased(pairs)}
    meta = [p for p in pairs if p.source not in CONTENT]
    length = x[:, 0]  # log_words difference
    for tau in (0.1, 0.2, 0.3, 0.5):
        for name in ("raw", "deb", "raw+meta", "deb+meta"):
            margins, masks = [], []
            for site in CONTENT:
                test = [p for p in pairs if p.source == site]
                train = [p for p in pairs if p.source in CONTENT and p.source != site]
                train = train + meta if "meta" in name else train
                train = [p for p in train if id(p) in deb] if name.startswith("deb") else train
                ti = np.array([idx[id(p)] for p in train])
                si = np.array([idx[id(p)] for p in test])
                model = _fit(x[ti][np.abs(length[ti]) < tau][:, 1:], 0.1)
                # the feature margin is scaled down so it never outvotes a length difference
                margins.append(np.where(np.abs(length[si]) < tau, model(x[si][:, 1:]) * 1e-3, length[si]))
                masks.append(np.array([id(p) in deb for p in test]))
            m, d = np.concatenate(margins), np.concatenate(masks)
            print(f"tau={tau} train={name}: raw {_acc(m):.3f} de-biased {_acc(m[d]):.3f}", flush=True)
    content = np.concatenate([length[[idx[id(p)] for p in pairs if p.source == s]] for s in CONTENT])
    content_deb = np.concatenate([[id(p) in deb for p in pairs if p.source == s] for s in CONTENT])
    print(f"length rule (\\w+ words): raw {_acc(content):.3f} de-biased {_acc(content[content_deb]):.3f}")


if __name__ == "__main__":
    main()
