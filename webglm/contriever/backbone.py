"""Tokenizer + BERT-like model -> masked mean-pooled vectors, on PyTorch or ONNX Runtime.

ONNX Runtime is the faster CPU path: its fused graph runs MiniLM at ~74% of the
machine's fp32 matmul rate where PyTorch eager reaches ~35-60%, and its per-channel
dynamic int8 gives a further ~1.4x (docs/benchmarks.md, ranking section). The ONNX file
is exported once per model (fingerprinted) into a cache folder and reused.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..config import RankConfig
from ..errors import ModelError
from ..logs import root_logger_kept


def fingerprint(path: Path) -> str:
    """Short digest of a model folder's config and weights: copies of one checkpoint
    agree, a retrained one differs (its weights change)."""
    h = hashlib.blake2b(digest_size=6)
    for name in ("config.json", "modules.json"):
        if (path / name).is_file():
            h.update((path / name).read_bytes())
    for pattern in ("*.safetensors", "*.bin"):
        for weights in sorted(path.glob(pattern)):
            h.update(f"{weights.name}:{weights.stat().st_size}".encode())
            with weights.open("rb") as fh:  # head and tail both change when weights change
                h.update(fh.read(1 << 16))
                fh.seek(max(weights.stat().st_size - (1 << 16), 0))
                h.update(fh.read())
    return h.hexdigest()


def onnx_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def resolve_runtime(rank: RankConfig) -> str:
    if rank.runtime == "auto":
        return "onnx" if onnx_available() else "torch"
    if rank.runtime == "onnx" and not onnx_available():
        raise ModelError("rank.runtime=onnx needs the onnx and onnxruntime packages", stage="rank",
                         hint="pip install onnx onnxruntime, or set rank.runtime=torch")
    return rank.runtime


def want_int8(rank: RankConfig) -> bool:
    """``auto`` = int8: every runtime here is CPU, where int8 met the speed and recall bar."""
    return rank.quantize != "none"


def onnx_cache_root(rank: RankConfig) -> Path:
    base = rank.onnx_dir or os.path.join(os.environ.get("WEBGLM_CACHE") or "~/.cache/webglm", "onnx")
    return Path(base).expanduser()


def quantize_int8(module: Any) -> Any:
    """Per-channel dynamic int8 of every ``nn.Linear`` (PyTorch runtime)."""
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(module, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)


def _load_hf(path: Path, **kwargs: Any) -> Any:
    if not (path / "config.json").is_file():
        raise ModelError(f"no Hugging Face model at {path} (config.json missing)", stage="rank", url=str(path),
                         hint="point rank.model at a folder saved with save_pretrained()")
    from transformers import AutoModel

    try:
        return AutoModel.from_pretrained(str(path), local_files_only=True, **kwargs).eval()
    except Exception as exc:  # transformers raises many types for broken folders
        raise ModelError(f"cannot load encoder from {path}: {exc}", stage="rank", url=str(path)) from exc


def export_onnx(path: Path, target: Path) -> None:
    """Export the model's last hidden state with dynamic batch and length axes."""
    import torch

    model = _load_hf(path, attn_implementation="eager")  # eager attention exports to plain ops

    class Hidden(torch.nn.Module):
        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    ids = torch.ones((2, 8), dtype=torch.long)
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
            "hidden": {0: "batch", 1: "tokens"}}
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Hidden(model), (ids, torch.ones_like(ids)), str(tmp), input_names=["input_ids", "attention_mask"],
                          output_names=["hidden"], dynamic_axes=axes, opset_version=17, dynamo=False)
    os.replace(tmp, target)


def onnx_file(path: Path, rank: RankConfig, int8: bool) -> Path:
    """The cached ONNX export of ``path`` (fp32 or int8), exporting it on first use."""
    folder = onnx_cache_root(rank) / f"{path.name}-{fingerprint(path)}"
    folder.mkdir(parents=True, exist_ok=True)
    fp32 = folder / "model.onnx"
    if not fp32.is_file():
        export_onnx(path, fp32)
    if not int8:
        return fp32
    q8 = folder / "model.int8.onnx"
    if not q8.is_file():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = q8.with_name(f".{q8.name}.{os.getpid()}.tmp")
        # onnxruntime logs a pre-processing advice on the root logger at every export (not for
        # users), and logging on an unconfigured root installs a handler there: undo both
        with root_logger_kept(logging.ERROR):
            quantize_dynamic(str(fp32), str(tmp), per_channel=True, weight_type=QuantType.QInt8)
        os.replace(tmp, q8)
    return q8


class Backbone:
    """One BERT-like encoder tower: tokenize, run, mean-pool (cosine normalisation is the caller's)."""

    def __init__(self, path: Path, rank: RankConfig):
        self.path, self.rank = path, rank
        self.runtime = ""
        self.quantized = False
        self.tokenizer: Any = None
        self.model: Any = None  # torch module or onnxruntime session
        self.max_length = rank.max_length
        self.config: Any = None

    def load(self, tokenizer: Any = None) -> "Backbone":
        from transformers import AutoConfig, AutoTokenizer

        self.runtime = resolve_runtime(self.rank)
        self.quantized = want_int8(self.rank)
        try:
            self.config = AutoConfig.from_pretrained(str(self.path), local_files_only=True)
            self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
        except Exception as exc:
            raise ModelError(f"cannot load model config/tokenizer from {self.path}: {exc}", stage="rank",
                             url=str(self.path), hint="save the tokenizer beside the model") from exc
        self.max_length = min(self.rank.max_length, int(getattr(self.config, "max_position_embeddings", 512)))
        if self.runtime == "onnx":
            self.model = self._session(onnx_file(self.path, self.rank, self.quantized))
        else:
            model = _load_hf(self.path)
            self.model = quantize_int8(model) if self.quantized else model
        return self

    def _session(self, file: Path) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = self.rank.threads or (os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        try:
            return ort.InferenceSession(str(file), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"cannot open ONNX model {file}: {exc}", stage="rank", url=str(file),
                             hint="delete the cached file to re-export it") from exc

    def embed(self, texts: list[str]) -> np.ndarray:
        """Mean-pooled last hidden states, (len(texts), hidden) float32."""
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="np")
        return self._run(batch["input_ids"].astype(np.int64), batch["attention_mask"].astype(np.int64))

    def embed_all(self, texts: list[str], batch_size: int, batch_tokens: int) -> np.ndarray:
        """:meth:`embed` for many texts: tokenised in one call, then run in batches of similar
        token counts holding about ``batch_tokens`` padded tokens (at least ``batch_size`` texts)."""
        ids = self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]
        pad = self.tokenizer.pad_token_id or 0
        out: np.ndarray | None = None
        for idx in token_batches([len(row) for row in ids], batch_size, batch_tokens):
            width = len(ids[idx[0]])  # the longest of the batch: lengths are sorted
            arr = np.full((len(idx), width), pad, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for r, i in enumerate(idx):
                arr[r, :len(ids[i])] = ids[i]
                mask[r, :len(ids[i])] = 1
            vecs = self._run(arr, mask)
            if out is None:
                out = np.empty((len(texts), vecs.shape[1]), dtype=np.float32)
            out[idx] = vecs
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.runtime == "onnx":
            hidden = self.model.run(None, {"input_ids": ids, "attention_mask": mask})[0]  # (B, T, H)
        else:
            import torch

            with torch.inference_mode():
                out = self.model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
                hidden = out.last_hidden_state.float().numpy()
        weights = mask[:, :, None].astype(np.float32)  # (B, T, 1)
        return (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)


def token_batches(lengths: list[int], batch_size: int, batch_tokens: int) -> list[list[int]]:
    """Indices in batches, longest texts first: each batch holds ``batch_size`` texts, or more
    while their padded size (count x longest) stays within ``batch_tokens``. Short passages pay
    the per-call overhead of the runtime once per many texts instead of once per four."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches, start = [], 0
    while start < len(order):
        size = max(batch_size, batch_tokens // max(lengths[order[start]], 1))
        batches.append(order[start:start + size])
        start += size
    return batches
