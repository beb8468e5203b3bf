"""A MiniLM cross-encoder over question + answer, fine-tuned on votes, leave-site-out.

    nice -n 10 env PYTHONPATH=. python bench/scorer_cross.py --data PATH/TO/stackexchange \
        [--top 1] [--max-len 128] [--epochs 2] [--max-pairs 400] [--boot 1000] [--sites beer,...]

The packaged all-MiniLM-L6-v2 reads ``[CLS] question [SEP] answer [SEP]`` (cut to
``--max-len`` tokens, the longer side first, so long answers are truncated the way WebGLM
cut them to a fixed budget); its top ``--top`` blocks and a linear head on the mean-pooled
output train with the Bradley–Terry loss −log σ(r_chosen − r_rejected). The frozen lower
blocks run once per text and are cached, so an epoch only runs the top blocks.

Each content site (beer, matheducators, quantumcomputing, genai) is held out in turn; the
model trains on the other three (training sets below), with 15% of the training sites'
questions held back (by a hash of the question) for early stopping and for fitting the
combination. Nothing is chosen on the held-out site. Training sets:

* ``debiased``: the SHP subset of the training sites' pairs;
* ``debiased+meta``: that plus the SHP subset of the six meta sites (out of domain);
* ``raw_lenctl``: every pair, minus pairs with an answer under half its question's median
  length (WebGLM's rule; the token budget does the truncation).

For each, ``cross`` is the fine-tuned score alone and ``cross+length`` a two-weight
calibrated logistic layer over (cross margin, log word-count ratio) fitted on the held-back
questions. Accuracies (ties half) on the raw and the de-biased pairs of each held-out site
and pooled, with 95% bootstrap intervals over questions, the paired difference to the
length rule and an exact sign test. The report is JSON on stdout (``--out`` also writes it).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scorer_qa import boot_ci, length_controlled  # noqa: E402
from scorer_sites import CONTENT, _fit, _sign_p  # noqa: E402

VARIANTS = ("debiased", "debiased+meta", "raw_lenctl")


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _key(p, which: str) -> tuple[str, str]:
    from webglm.scorer.reward import strip_citation_marks

    return p.question, strip_citation_marks(getattr(p, which))


def lower_states(texts: list[tuple[str, str]], top: int, max_len: int, cache: Path, batch: int = 32):
    """(question, answer) -> fp16 hidden states entering the top ``top`` blocks (real tokens only)."""
    import torch

    from webglm.scorer.model import load_encoder, packaged_encoder_dir

    digest = hashlib.blake2b(repr((sorted(texts), top, max_len)).encode(), digest_size=8).hexdigest()
    file = cache / f"cross-lower-{digest}.pt"
    tok, enc, _ = load_encoder(packaged_encoder_dir())
    if file.is_file():
        return tok, enc, torch.load(file)
    enc.eval()
    order = sorted(texts, key=lambda t: len(t[0]) + len(t[1]))
    out = {}
    t0 = time.time()
    with torch.inference_mode():
        for i in range(0, len(order), batch):
            chunk = order[i: i + batch]
            b = tok([q for q, _ in chunk], [a for _, a in chunk], truncation="longest_first",
                    max_length=max_len, padding=True, return_tensors="pt")
            hs = enc(**b, output_hidden_states=True).hidden_states[-1 - top]
            for j, n in enumerate(b["attention_mask"].sum(1).tolist()):
                out[chunk[j]] = hs[j, :n].to(torch.float16).clone()
            if i // batch % 20 == 0:
                _log(f"lower blocks: {i + len(chunk)}/{len(order)} texts, {time.time() - t0:.0f} s")
    cache.mkdir(parents=True, exist_ok=True)
    torch.save(out, file.with_suffix(".tmp"))
    os.replace(file.with_suffix(".tmp"), file)
    return tok, enc, out


class CrossHead:
    """Copies of the top blocks plus a linear head on the masked mean of their output."""

    def __init__(self, enc, top: int, seed: int):
        import torch

        torch.manual_seed(seed)
        self.blocks = torch.nn.ModuleList(copy.deepcopy(list(enc.encoder.layer)[-top:]))
        self.head = torch.nn.Linear(enc.config.hidden_size, 1)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)

    def params(self, lr: float, head_lr: float):
        return [{"params": self.blocks.parameters(), "lr": lr}, {"params": self.head.parameters(), "lr": head_lr}]

    def train(self, on: bool) -> None:
        self.blocks.train(on)

    def __call__(self, states: list):
        """Rewards, shape (batch,), for a list of (tokens, dim) cached states."""
        import torch

        n = max(len(s) for s in states)
        x = torch.zeros(len(states), n, states[0].shape[1])
        mask = torch.zeros(len(states), n)
        for i, s in enumerate(states):
            x[i, : len(s)] = s.float()
            mask[i, : len(s)] = 1
        add = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min  # additive attention mask
        for block in self.blocks:
            x = block(x, attention_mask=add)
            x = x[0] if isinstance(x, tuple) else x
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return self.head(pooled).squeeze(-1)


def score_texts(model: CrossHead, keys: list, states: dict, batch: int = 64) -> dict:
    """Reward per (question, answer) key, in inference mode."""
    import torch

    model.train(False)
    out = {}
    with torch.inference_mode():
        for i in range(0, len(keys), batch):
            chunk = keys[i: i + batch]
            for k, r in zip(chunk, model([states[k] for k in chunk]).tolist()):
                out[k] = r
    return out


def margins(pairs, scores: dict) -> np.ndarray:
    return np.array([scores[_key(p, "chosen")] - scores[_key(p, "rejected")] for p in pairs])


def train_cross(train, val, states, enc, args, seed: int):
    """Fine-tune one model; the epoch with the best accuracy on ``val`` is kept."""
    import torch

    model = CrossHead(enc, args.top, seed)
    opt = torch.optim.AdamW(model.params(args.lr, args.head_lr), weight_decay=0.01)
    rng = np.random.default_rng(seed)
    val_keys = sorted({_key(p, w) for p in val for w in ("chosen", "rejected")})
    best, best_acc, history = None, -1.0, []
    for epoch in range(args.epochs):
        model.train(True)
        idx = rng.permutation(len(train))[: args.max_pairs]
        t0, total = time.time(), 0.0
        for i in range(0, len(idx), args.batch):
            chunk = [train[j] for j in idx[i: i + args.batch]]
            r = model([states[_key(p, "chosen")] for p in chunk] + [states[_key(p, "rejected")] for p in chunk])
            loss = -torch.nn.functional.logsigmoid(r[: len(chunk)] - r[len(chunk):]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(chunk)
        m = margins(val, score_texts(model, val_keys, states))
        acc = float(np.mean(m > 0) + 0.5 * np.mean(m == 0))
        history.append({"epoch": epoch + 1, "loss": round(total / len(idx), 4), "val_acc": round(acc, 3),
                        "seconds": round(time.time() - t0, 1)})
        _log(f"  epoch {epoch + 1}: {history[-1]}")
        if acc > best_acc:
            best_acc, best = acc, copy.deepcopy((model.blocks.state_dict(), model.head.state_dict()))
    model.blocks.load_state_dict(best[0])
    model.head.load_state_dict(best[1])
    return model, history


def log_len_margin(pairs) -> np.ndarray:
    from webglm.scorer.data import count_words

    return np.array([math.log1p(count_words(p.chosen)) - math.log1p(count_words(p.rejected)) for p in pairs])


def training_sets(train_sites, meta):
    """Variant name -> training pairs (before the validation hold-out)."""
    from webglm.scorer.data import debiased

    return {"debiased": debiased(train_sites), "debiased+meta": debiased(train_sites + meta),
            "raw_lenctl": length_controlled(train_sites)[0]}


def held_back(p, share: float = 0.15) -> bool:
    digest = hashlib.blake2b(f"val:{p.group}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def site_rows(site, pairs, meta, states, enc, args) -> tuple[list, dict, dict]:
    """Margins of every model on the held-out ``site``'s pairs, and the training histories."""
    from webglm.scorer.data import count_words

    test = [p for p in pairs if p.source == site]
    train_sites = [p for p in pairs if p.source in CONTENT and p.source != site]
    rows = {"length_rule": np.array([count_words(p.chosen) - count_words(p.rejected) for p in test], float)}
    test_keys = sorted({_key(p, w) for p in test for w in ("chosen", "rejected")})
    info = {}
    for name, tr in training_sets(train_sites, meta).items():
        if name not in args.variants:
            continue
        fit = [p for p in tr if not held_back(p)]
        val = [p for p in tr if held_back(p)]
        _log(f"{site} / {name}: {len(fit)} training pairs, {len(val)} held back")
        t0 = time.time()
        model, hist = train_cross(fit, val, states, enc, args, args.seed)
        val_keys = sorted({_key(p, w) for p in val for w in ("chosen", "rejected")})
        combine = _fit(np.c_[margins(val, score_texts(model, val_keys, states)), log_len_margin(val)], args.c)
        test_scores = score_texts(model, test_keys, states)
        rows[f"cross_{name}"] = margins(test, test_scores)
        rows[f"cross+length_{name}"] = combine(np.c_[rows[f"cross_{name}"], log_len_margin(test)])
        info[name] = {"train_pairs": len(fit), "held_back": len(val), "history": hist,
                      "seconds": round(time.time() - t0, 1)}
    return test, rows, info


def _right(m: np.ndarray) -> np.ndarray:
    return (m > 0) + 0.5 * (m == 0)


def summarise(tests: list, rows: dict, reps: int) -> dict:
    """Accuracy, interval, difference to the length rule and sign test on raw and de-biased pairs."""
    from webglm.scorer.data import debiased

    deb_ids = {id(p) for p in debiased(tests)}
    out = {}
    for split, mask in (("raw", np.ones(len(tests), bool)), ("debiased", np.array([id(p) in deb_ids for p in tests]))):
        g = [p.group for p, keep in zip(tests, mask) if keep]
        length = _right(rows["length_rule"][mask])
        out[split] = {"pairs": int(mask.sum())}
        for k, m in rows.items():
            r = _right(m[mask])
            out[split][k] = {"acc": round(float(r.mean()), 3), "ci": boot_ci(r, g, reps),
                             "minus_length": round(float(r.mean() - length.mean()), 3),
                             "minus_length_ci": boot_ci(r, g, reps, base=length),
                             "sign_p": round(_sign_p(r == 1, length == 1), 4)}
    return out


def per_site_report(sites, tests: list, rows: dict, reps: int) -> dict:
    """:func:`summarise` for each site in ``sites`` (``tests`` holds them in that order)."""
    out, start = {}, 0
    for site in sites:
        n = sum(p.source == site for p in tests)
        if n:
            out[site] = summarise(tests[start: start + n], {k: v[start: start + n] for k, v in rows.items()}, reps)
        start += n
    return out


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--cache-dir", default=os.path.join(os.environ.get("WEBGLM_CACHE") or "~/.cache/webglm",
                                                         "scorer-cross"))
    ap.add_argument("--top", type=int, default=1, help="top MiniLM blocks that train")
    ap.add_argument("--max-len", type=int, default=128, help="tokens of question + answer")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--max-pairs", type=int, default=400, help="pairs sampled per epoch")
    ap.add_argument("--batch", type=int, default=16, help="pairs per step")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--head-lr", type=float, default=5e-3)
    ap.add_argument("--c", type=float, default=1.0, help="inverse L2 strength of the combination layer")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--sites", default=",".join(s.split(".")[0] for s in CONTENT), help="held-out sites to run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="", help="also write the report here (rewritten after every site)")
    args = ap.parse_args()
    args.variants = args.variants.split(",")
    return args


def main() -> None:
    args = _args()
    import torch

    from webglm.scorer.data import build_stackexchange_pairs

    torch.set_num_threads(args.threads)
    t0 = time.time()
    pairs = [p for f in sorted(Path(args.data).glob("*Posts.xml")) for p in build_stackexchange_pairs(f)]
    meta = [p for p in pairs if p.source not in CONTENT]
    sites = [s for s in CONTENT if s.split(".")[0] in args.sites.split(",")]
    keys = sorted({_key(p, w) for p in pairs for w in ("chosen", "rejected")})  # one cache for every variant
    _log(f"{len(pairs)} pairs, {len(keys)} texts to encode")
    _, enc, states = lower_states(keys, args.top, args.max_len, Path(args.cache_dir).expanduser())
    t_cache = time.time() - t0
    tests, rows, info = [], {}, {}
    for site in sites:
        test, site_margins, info[site] = site_rows(site, pairs, meta, states, enc, args)
        tests.extend(test)
        for k, m in site_margins.items():
            rows.setdefault(k, []).append(m)
        joined = {k: np.concatenate(v) for k, v in rows.items()}
        report = {"per_site": per_site_report(sites, tests, joined, args.boot),
                  "pooled": summarise(tests, joined, args.boot), "setup": vars(args), "training": info,
                  "seconds": {"lower_blocks": round(t_cache, 1), "total": round(time.time() - t0, 1)},
                  "machine": {"machine": platform.machine(), "cpus": os.cpu_count(), "load_avg": os.getloadavg(),
                              "torch": torch.__version__}}
        if args.out:  # rewritten after every site, so a stopped run keeps what it measured
            Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
