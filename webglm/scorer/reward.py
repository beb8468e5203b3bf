"""The reward model used at answer time: cheap to construct, loads on first use."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config import ScorerConfig
from ..errors import ModelError, ScorerError
from ..text import strip_citations

DEFAULT_SCORER_NAME = "scorer-se-minilm"


def strip_citation_marks(text: str) -> str:
    """``text`` without ``[n]`` marks. The reward model judges what an answer says; whether
    its citations hold is the citation check's job. Forum answers almost never carry ``[n]``,
    so a model that saw the marks would only learn to count them on generated answers."""
    return strip_citations(text)


def default_scorer_dir() -> Path:
    """The scorer shipped with the package (``webglm/data/scorer-se-minilm``)."""
    return Path(__file__).resolve().parent.parent / "data" / DEFAULT_SCORER_NAME


class RewardModel:
    """A trained scorer folder behind the :class:`webglm.protocols.RewardModel` protocol.

    ``score(question, answers)`` returns one float per answer, calibrated so that
    answers of the training data have mean 0 and standard deviation 1; higher means
    people are more likely to prefer the answer.
    """

    def __init__(self, path: str | Path | None = None, *, batch_size: int = 16, threads: int | None = None):
        self.path = Path(path).expanduser() if path else default_scorer_dir()
        self.batch_size = batch_size
        self.threads = threads
        self.model_id = f"scorer:{self.path.name}"
        self.spec: dict = {}
        self._net: Any = None  # the RewardNet once loaded
        self._lock = threading.Lock()

    def load(self) -> RewardModel:
        """Load the encoder and head (idempotent, thread-safe)."""
        with self._lock:
            if self._net is None:
                self._net = self._build()
        return self

    def _build(self):
        from .store import apply_weights, read_spec, read_weights

        self.spec = read_spec(self.path)
        state = read_weights(self.path)
        import torch

        from .features import FEATURE_NAMES
        from .model import RewardNet, load_encoder, resolve_encoder

        if tuple(self.spec["features"]) != FEATURE_NAMES:
            raise ModelError(f"scorer {self.path} was trained with other features", hint="re-train the scorer")
        if self.threads:
            torch.set_num_threads(self.threads)
        tokenizer, encoder, _auto = load_encoder(resolve_encoder(self.spec["encoder"], self.path))
        net = RewardNet(
            tokenizer, encoder, self.spec["pooling"], n_features=len(FEATURE_NAMES),
            max_length=int(self.spec.get("max_length", 256)),
            question_max_length=int(self.spec.get("question_max_length", 128)),
            use_embedding=bool(self.spec.get("use_embedding", True)),
        )
        apply_weights(net, state, self.path / "weights.safetensors")
        net.eval()
        return net

    def raw_scores(self, question: str, answers: Sequence[str]) -> list[float]:
        """Uncalibrated head outputs (the scale the model was trained on)."""
        import torch

        net = self.load()._net
        out: list[float] = []
        with torch.inference_mode():
            for i in range(0, len(answers), self.batch_size):
                chunk = list(answers[i : i + self.batch_size])
                out.extend(net([question] * len(chunk), chunk).tolist())
        return out

    def score(self, question: str, answers: Sequence[str]) -> list[float]:
        """Calibrated rewards (mean 0, std 1 over training answers), one per answer."""
        if not isinstance(question, str) or not question.strip():
            raise ScorerError("cannot score answers to an empty question", hint="pass the question text")
        if not answers:
            return []
        if any(not isinstance(a, str) for a in answers):
            raise ScorerError("answers must be strings")
        try:
            raw = self.raw_scores(question, [strip_citation_marks(a) for a in answers])
        except (RuntimeError, ValueError) as exc:
            raise ScorerError(f"reward model {self.model_id} failed: {exc}") from exc
        cal = self.spec["calibration"]
        return [(r - float(cal["mean"])) / float(cal["std"]) for r in raw]


_SHARED: dict[Path, RewardModel] = {}
_SHARED_LOCK = threading.Lock()


def load_reward_model(scorer: ScorerConfig | None = None) -> RewardModel:
    """The reward model named by ``scorer.model`` (empty = the shipped one), one per folder
    and process: every caller shares it, so the encoder loads once however many questions
    are scored.

    Cheap: files are only checked for existence here; weights load on first use or
    in ``load()``. Raises :class:`ModelError` with a hint when the folder is missing.
    """
    scorer = scorer or ScorerConfig()
    model = RewardModel(scorer.model or None)
    if not (model.path / "scorer.json").is_file():
        where = "the shipped scorer" if not scorer.model else f"scorer.model={scorer.model!r}"
        raise ModelError(
            f"no trained scorer found for {where} ({model.path})",
            hint="train one with `webglm train-scorer --out DIR` and set scorer.model to DIR",
        )
    with _SHARED_LOCK:
        return _SHARED.setdefault(model.path.resolve(), model)
