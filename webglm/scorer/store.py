"""Saving and loading trained scorers (a folder: ``scorer.json`` + ``weights.safetensors``).

Only the head, the feature scaling and the encoder tensors that training changed
are written; the frozen rest of the encoder is loaded from its own folder (by
default the packaged MiniLM). safetensors holds plain tensors, so loading a
scorer never unpickles code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ModelError

FORMAT = "webglm-scorer/1"
SPEC_FILE = "scorer.json"
WEIGHTS_FILE = "weights.safetensors"


def read_spec(folder: Path) -> dict[str, Any]:
    """Read and check ``scorer.json``; raise :class:`ModelError` with a fix when unusable."""
    spec_path = folder / SPEC_FILE
    if not spec_path.is_file():
        raise ModelError(
            f"no trained scorer at {folder} ({SPEC_FILE} missing)",
            hint="train one with `webglm train-scorer`, or leave scorer.model empty for the shipped one",
        )
    try:
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"corrupt scorer spec {spec_path}: {exc}", hint="re-train or re-install the scorer") from None
    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        raise ModelError(f"{spec_path} is not a {FORMAT} scorer", hint="re-train it with this version of webglm")
    for key in ("encoder", "pooling", "features", "calibration"):
        if key not in spec:
            raise ModelError(f"scorer spec {spec_path} lacks {key!r}", hint="re-train the scorer")
    return spec


def save_scorer(net, folder: Path, spec: dict[str, Any], trainable: list[str]) -> None:
    """Write ``net``'s head, feature scaling and trained encoder tensors plus ``spec``."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    keep = {f"encoder.{n}" for n in trainable}
    state = {
        k: v.detach().cpu().contiguous()
        for k, v in net.state_dict().items()
        if k.startswith(("head.", "feature_")) or k in keep
    }
    tmp = folder / (WEIGHTS_FILE + ".tmp")
    save_file(state, str(tmp))
    tmp.replace(folder / WEIGHTS_FILE)  # atomic, so a crash never leaves half a checkpoint
    spec = {**spec, "format": FORMAT}
    tmp_spec = folder / (SPEC_FILE + ".tmp")
    tmp_spec.write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp_spec.replace(folder / SPEC_FILE)


def read_weights(folder: Path) -> dict:
    """Read ``weights.safetensors`` (checked before any encoder is loaded: fail fast)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = folder / WEIGHTS_FILE
    if not path.is_file():
        raise ModelError(f"scorer weights missing: {path}", hint="re-train or re-install the scorer")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"corrupt scorer weights {path}: {exc}", hint="re-train or re-install the scorer") from None
    missing = [k for k in ("head.weight", "head.bias") if k not in state]
    if missing:
        raise ModelError(f"scorer weights {path} lack {missing}", hint="re-train the scorer")
    return state


def apply_weights(net, state: dict, path: Path) -> None:
    """Load saved tensors into ``net`` (its encoder already loaded from the base folder)."""
    own = net.state_dict()
    for key, value in state.items():
        if key not in own or own[key].shape != value.shape:
            raise ModelError(
                f"scorer weights {path} do not fit the encoder (tensor {key})",
                hint="use the encoder the scorer was trained with",
            )
    net.load_state_dict(state, strict=False)
