"""Pairwise training of the reward model: −log σ(r_chosen − r_rejected).

The lower encoder blocks are frozen (``train_layers`` top blocks train; WebGLM froze
70% of its model). Frozen work is done once per text and cached (see
:mod:`webglm.scorer.cache`), which is what makes a few thousand pairs train in
minutes on two CPU cores. Validation accuracy is checked every epoch; the best
scorer is kept in ``out_dir`` and training stops after ``patience`` epochs without
improvement. ``out_dir/checkpoint`` holds the latest state for ``resume=True``.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..errors import InputError
from .cache import LayerCache
from .data.pairs import PreferencePair
from .features import FEATURE_NAMES
from .model import (
    PACKAGED_ENCODER,
    RewardNet,
    freeze_lower_layers,
    layer_list,
    load_encoder,
    pairwise_loss,
    resolve_encoder,
    set_feature_scaling,
)
from .store import save_scorer


@dataclass(frozen=True, slots=True)
class TrainScorerConfig:
    """Training settings (defaults: the shipped scorer's recipe)."""

    encoder: str = ""  # HF encoder / causal LM folder; empty = packaged all-MiniLM-L6-v2
    # Defaults are the shipped scorer's recipe: on ~3k Stack Exchange pairs the answer
    # embedding itself overfits (held-out accuracy 0.623 with it, 0.629 without), so the
    # head sees only cos(q, a) and the text features. Set train_layers >= 1 and
    # use_embedding=True for larger data (WebGLM tuned 30% of a 6B model on 249k pairs).
    train_layers: int = 0  # top blocks that train; 0 = frozen encoder, head only
    use_embedding: bool = False  # feed the answer embedding itself to the head
    epochs: int = 30
    batch_size: int = 16
    lr: float = 3e-5  # encoder blocks
    head_lr: float = 3e-3
    weight_decay: float = 0.01
    max_length: int = 256
    question_max_length: int = 128
    patience: int = 5  # epochs without a better validation accuracy before stopping
    max_steps: int = 0  # 0 = no limit (tests use a couple of steps)
    seed: int = 0
    threads: int = 0  # torch threads; 0 = leave torch's default

    def __post_init__(self) -> None:
        if self.train_layers < 0 or self.epochs < 1 or self.batch_size < 1:
            raise InputError("train_layers must be >= 0, epochs and batch_size >= 1")
        if self.lr <= 0 or self.head_lr <= 0:
            raise InputError("learning rates must be > 0")


@dataclass(frozen=True, slots=True)
class TrainProgress:
    """Reported to the progress callback after every step and every evaluation."""

    epoch: int
    step: int
    total_steps: int
    loss: float
    val_accuracy: float | None = None
    event: str = "step"  # "step" | "eval" | "stop"


Progress = Callable[[TrainProgress], None]


@contextmanager
def _eval_mode(module: torch.nn.Module):
    """Run ``module`` in eval mode (no dropout) and restore its previous mode."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


class _Embedder:
    """Embeds texts through the cache that fits the number of training blocks."""

    def __init__(self, net: RewardNet, train_layers: int):
        self.net = net
        n_layers = len(layer_list(net.encoder))
        self.frozen = train_layers == 0
        self.cache = LayerCache(net, train_layers) if 0 < train_layers < n_layers else None
        self.pooled: dict[tuple[str, int], torch.Tensor] = {}

    def __call__(self, texts: Sequence[str], max_length: int) -> torch.Tensor:
        if self.frozen:  # nothing in the encoder trains: cache final embeddings
            todo = sorted((t for t in dict.fromkeys(texts) if (t, max_length) not in self.pooled), key=len)
            with torch.no_grad(), _eval_mode(self.net.encoder):  # cached once: no dropout noise
                for i in range(0, len(todo), 32):
                    chunk = todo[i : i + 32]
                    for t, e in zip(chunk, self.net.embed(chunk, max_length)):
                        self.pooled[(t, max_length)] = e
            return torch.stack([self.pooled[(t, max_length)] for t in texts])
        if self.cache is not None:
            return self.cache.embed(texts, max_length)
        return self.net.embed(texts, max_length)

    def prefill(self, pairs: Sequence[PreferencePair]) -> None:
        """Run the frozen part for all texts at once (length-sorted batches waste less)."""
        questions = list({p.question: None for p in pairs})
        answers = list({a: None for p in pairs for a in (p.chosen, p.rejected)})
        for texts, max_length in ((questions, self.net.question_max_length), (answers, self.net.max_length)):
            if self.cache is not None:
                self.cache.fill(texts, max_length)
            elif self.frozen:
                self(texts, max_length)

    def rewards(self, questions: Sequence[str], answers: Sequence[str]) -> torch.Tensor:
        """Raw rewards, like ``net.forward`` but through the cache."""
        uniq = list(dict.fromkeys(questions))
        q_all = self(uniq, self.net.question_max_length)
        q_emb = q_all[[uniq.index(q) for q in questions]]
        a_emb = self(answers, self.net.max_length)
        feats = self.net.features(questions, answers)
        return self.net.head(self.net.head_input(q_emb, a_emb, feats)).squeeze(-1)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()


def _pair_rewards(emb: _Embedder, batch: Sequence[PreferencePair]) -> tuple[torch.Tensor, torch.Tensor]:
    questions = [p.question for p in batch]
    r = emb.rewards(questions + questions, [p.chosen for p in batch] + [p.rejected for p in batch])
    return r[: len(batch)], r[len(batch) :]


def _accuracy(emb: _Embedder, pairs: Sequence[PreferencePair], batch_size: int) -> float:
    """Pairwise accuracy, ties counted as half right."""
    if not pairs:
        return float("nan")
    emb.net.eval()
    hits = 0.0
    with torch.no_grad():
        for i in range(0, len(pairs), batch_size):
            rc, rr = _pair_rewards(emb, pairs[i : i + batch_size])
            hits += float((rc > rr).sum()) + 0.5 * float((rc == rr).sum())
    return hits / len(pairs)


def _build(config: TrainScorerConfig) -> tuple[RewardNet, list[str]]:
    tokenizer, encoder, pooling = load_encoder(resolve_encoder(config.encoder))
    net = RewardNet(tokenizer, encoder, pooling, n_features=len(FEATURE_NAMES), max_length=config.max_length,
                    question_max_length=config.question_max_length, use_embedding=config.use_embedding)
    trainable = freeze_lower_layers(encoder, config.train_layers)
    return net, trainable


def _optimizer(net: RewardNet, config: TrainScorerConfig) -> torch.optim.Optimizer:
    groups = [{"params": list(net.head.parameters()), "lr": config.head_lr}]
    enc = [p for p in net.encoder.parameters() if p.requires_grad]
    if enc:
        groups.append({"params": enc, "lr": config.lr})
    return torch.optim.AdamW(groups, weight_decay=config.weight_decay)


def _calibration(emb: _Embedder, pairs: Sequence[PreferencePair], batch_size: int) -> dict[str, float]:
    """Mean and std of raw rewards over the distinct training answers."""
    seen = list({(p.question, a): None for p in pairs for a in (p.chosen, p.rejected)})
    emb.net.eval()
    values = []
    with torch.no_grad():
        for i in range(0, len(seen), batch_size):
            chunk = seen[i : i + batch_size]
            values.append(emb.rewards([q for q, _ in chunk], [a for _, a in chunk]))
    r = torch.cat(values)
    return {"mean": float(r.mean()), "std": max(float(r.std()), 1e-6) if len(r) > 1 else 1.0}


def _spec(config: TrainScorerConfig, net: RewardNet, train_layers: int) -> dict:
    return {
        "encoder": config.encoder or PACKAGED_ENCODER,
        "pooling": net.pooling,
        "max_length": net.max_length,
        "question_max_length": net.question_max_length,
        "use_embedding": net.use_embedding,
        "features": list(FEATURE_NAMES),
        "train_layers": train_layers,
        "training": {k: v for k, v in asdict(config).items() if k != "threads"},
    }


@dataclass
class _State:
    epoch: int = 0
    step: int = 0
    best: float = -1.0
    bad_epochs: int = 0
    last_loss: float = float("nan")


def _save_checkpoint(folder: Path, net: RewardNet, opt: torch.optim.Optimizer, state: _State) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    trainable = {k: v for k, v in net.state_dict().items()
                 if k.startswith(("head.", "feature_")) or (k.startswith("encoder.") and _requires_grad(net, k))}
    tmp = folder / "state.pt.tmp"
    torch.save({"model": trainable, "optimizer": opt.state_dict(), "state": asdict(state)}, tmp)
    tmp.replace(folder / "state.pt")


def _requires_grad(net: RewardNet, key: str) -> bool:
    param = dict(net.named_parameters()).get(key)
    return bool(param is not None and param.requires_grad)


def _load_checkpoint(folder: Path, net: RewardNet, opt: torch.optim.Optimizer) -> _State:
    blob = torch.load(folder / "state.pt", weights_only=True)  # plain tensors only: no code runs
    net.load_state_dict(blob["model"], strict=False)
    opt.load_state_dict(blob["optimizer"])
    return _State(**blob["state"])


def _run_epoch(emb, opt, train, config, state, total, progress) -> None:
    order = list(range(len(train)))
    random.Random(config.seed + state.epoch).shuffle(order)  # per-epoch order survives a resume
    emb.net.train()
    for i in range(0, len(order), config.batch_size):
        if config.max_steps and state.step >= config.max_steps:
            return
        batch = [train[j] for j in order[i : i + config.batch_size]]
        rc, rr = _pair_rewards(emb, batch)  # (batch,), (batch,)
        loss = pairwise_loss(rc, rr)
        opt.zero_grad()
        loss.backward()
        opt.step()
        state.step += 1
        state.last_loss = float(loss.detach())
        if progress:
            progress(TrainProgress(state.epoch, state.step, total, state.last_loss))


def train_scorer(
    train: Sequence[PreferencePair],
    validation: Sequence[PreferencePair],
    out_dir: str | Path,
    config: TrainScorerConfig | None = None,
    *,
    progress: Progress | None = None,
    resume: bool = False,
) -> dict[str, float]:
    """Train a scorer on ``train`` pairs, keep the best on ``validation`` in ``out_dir``.

    Returns metrics: ``best_val_accuracy`` (primary), ``epochs``, ``steps``,
    ``final_loss``, ``seconds``, pair counts and the calibration constants.
    """
    config = config or TrainScorerConfig()
    if not train:
        raise InputError("no training pairs", hint="check the data path and the pair-builder thresholds")
    out, start = Path(out_dir), time.monotonic()
    net, trainable, opt = _setup(config, train)
    ckpt = out / "checkpoint"
    state = _load_checkpoint(ckpt, net, opt) if resume and (ckpt / "state.pt").is_file() else _State()
    emb = _Embedder(net, config.train_layers)
    emb.prefill([*train, *validation])
    total = config.epochs * ((len(train) + config.batch_size - 1) // config.batch_size)
    if config.max_steps:
        total = min(total, config.max_steps)
    spec = _spec(config, net, config.train_layers)
    try:
        while state.epoch < config.epochs and state.bad_epochs < config.patience:
            if config.max_steps and state.step >= config.max_steps:
                break
            _run_epoch(emb, opt, train, config, state, total, progress)
            _end_epoch(emb, config, state, train, validation, out, spec, trainable, progress, total)
            _save_checkpoint(ckpt, net, opt, state)
        if state.best < 0:  # no validation pairs or no epoch ran: keep the last weights
            _save_best(emb, config, train, out, spec, trainable, float("nan"))
    finally:
        emb.close()
    metrics = json.loads((out / "scorer.json").read_text(encoding="utf-8"))["metrics"]
    metrics.update(epochs=float(state.epoch), steps=float(state.step), final_loss=state.last_loss,
                   seconds=time.monotonic() - start)
    return metrics


def _setup(config: TrainScorerConfig, train: Sequence[PreferencePair]):
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    net, trainable = _build(config)
    set_feature_scaling(net, [p.question for p in train for _ in (0, 1)],
                        [a for p in train for a in (p.chosen, p.rejected)])
    return net, trainable, _optimizer(net, config)


def _end_epoch(emb, config, state, train, validation, out, spec, trainable, progress, total) -> None:
    state.epoch += 1
    acc = _accuracy(emb, validation, 64) if validation else float("nan")
    if progress:
        progress(TrainProgress(state.epoch, state.step, total, state.last_loss, acc, "eval"))
    if validation and acc > state.best:
        state.best, state.bad_epochs = acc, 0
        _save_best(emb, config, train, out, spec, trainable, acc)
    elif validation:
        state.bad_epochs += 1


def _save_best(emb, config, train, out: Path, spec, trainable, acc: float) -> None:
    calibration = _calibration(emb, train, 64)
    metrics = {"best_val_accuracy": acc, "train_pairs": float(len(train)),
               "calibration_mean": calibration["mean"], "calibration_std": calibration["std"]}
    save_scorer(emb.net, out, {**spec, "calibration": calibration, "metrics": metrics}, trainable)
