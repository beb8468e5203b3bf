"""Hugging Face transformers backend: any local causal LM, GGUF files, GLM checkpoints.

Weights are read from disk only (``local_files_only``): nothing is downloaded.
On CPU the model runs in float32; on a CUDA GPU in float16/bfloat16, or in 8/4-bit
through bitsandbytes. Imported only when the ``transformers`` backend is chosen,
so ``import webglm`` never imports torch.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..config import GenerateConfig
from ..errors import ConfigError, GenerationError, ModelError
from .base import Completion, SamplingParams
from .prompts import Prompt

# End-of-turn markers of common chat formats; generation stops at any that the vocabulary knows.
END_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<|end|>", "<end_of_turn>", "<|user|>", "<|eop|>")
# "org/name" that is not a local path: looked up in the local Hugging Face cache only, never downloaded
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
GLM_TYPES = ("glm", "chatglm")  # THUDM GLM / ChatGLM configs (remote code)


_REMOTE_CODE_HINT = ("read the folder's .py files first; to run them pass --set generate.trust_remote_code=true "
                     "(or trust_remote_code = true under [generate] in the config file)")


def _flat(value: Any) -> Iterator[Any]:
    """Leaf values of an auto_map (its entries may be strings or [slow, fast] pairs)."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _flat(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _flat(v)
    elif value:
        yield value


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _is_glm_style(model_dir: Path) -> bool:
    """A THUDM GLM-style checkpoint without a chat template wants the ``[gMASK]`` text format."""
    cfg = _read_json(model_dir / "config.json")
    kind = str(cfg.get("model_type", "")).lower()
    archs = " ".join(cfg.get("architectures") or []).lower()
    glm = kind in GLM_TYPES or (archs.startswith("glm") and "auto_map" in cfg)
    has_template = (
        bool(_read_json(model_dir / "tokenizer_config.json").get("chat_template"))
        or (model_dir / "chat_template.jinja").is_file()
        or (model_dir / "chat_template.json").is_file()
    )
    return glm and not has_template


class TransformersBackend:
    """Causal LMs through ``transformers``: a model directory or a ``.gguf`` file.

    ``n`` candidates come from one ``generate`` call with ``num_return_sequences``
    (the prompt is prefilled once and expanded); one candidate at temperature 0 is greedy.
    """

    def __init__(self, gen: GenerateConfig):
        if not gen.model:
            raise ConfigError(
                "the transformers backend needs a model",
                hint="pass --model with a local model directory or a .gguf file",
            )
        self.gen = gen
        self.path = Path(gen.model).expanduser()
        self.is_gguf = self.path.suffix.lower() == ".gguf"
        self.model_dir = self.path.parent if self.is_gguf else self.path
        self.model_id = f"transformers:{self.path.name}"
        self.n_ctx = gen.n_ctx
        self.default_template = "glm" if not self.is_gguf and _is_glm_style(self.model_dir) else "chat"
        self.device = "cpu"
        self._model: Any = None
        self._tok: Any = None
        self._lock = threading.Lock()  # one generate() at a time per model

    # ---------------------------------------------------------------- loading
    def load(self) -> None:
        """Load tokenizer and weights (idempotent)."""
        if self._model is not None:
            return
        hub_id = not self.path.exists() and _HUB_ID.fullmatch(self.gen.model) is not None
        if not self.path.exists() and not hub_id:
            raise ModelError(
                f"model not found: {self.path}",
                hint="pass --model with a local model directory (config.json + weights) or a .gguf file;"
                " models are never downloaded at run time",
            )
        self._check_remote_code()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self.gen.n_threads > 0:
            torch.set_num_threads(self.gen.n_threads)
        kwargs = self._load_kwargs(torch)
        try:
            self._tok = AutoTokenizer.from_pretrained(str(self.model_dir), **self._common_kwargs())
            self._model = AutoModelForCausalLM.from_pretrained(
                str(self.model_dir), **self._common_kwargs(), **kwargs
            )
        except (OSError, ValueError, KeyError, ImportError, RuntimeError, AttributeError, TypeError) as exc:
            hint = "the path must hold a causal LM saved with save_pretrained, or a .gguf file"
            if "trust_remote_code" in str(exc):
                hint = _REMOTE_CODE_HINT
            if hub_id:
                hint = f"{self.gen.model} is not in the local Hugging Face cache; download it first (huggingface-cli download)"
            raise ModelError(f"cannot load transformers model {self.gen.model}: {exc}", hint=hint) from None
        if "device_map" not in kwargs:
            self._model.to(self.device)
        self._model.eval()
        self._fit_context()

    def _common_kwargs(self) -> dict:
        kw: dict[str, Any] = {"local_files_only": True}
        if self.is_gguf:
            kw["gguf_file"] = self.path.name
        # Always explicit: left unset, transformers may stop and ask on a terminal.
        kw["trust_remote_code"] = bool(self.gen.trust_remote_code)
        return kw

    def _check_remote_code(self) -> None:
        """Refuse, before transformers is imported, a model folder whose config maps to its own
        Python modules, unless ``generate.trust_remote_code`` says to run them."""
        if self.gen.trust_remote_code:
            return
        cfg = _read_json(self.model_dir / "config.json")
        auto_map = cfg.get("auto_map") if isinstance(cfg, dict) else None
        if auto_map:
            modules = sorted({str(v).split(".")[0] for v in _flat(auto_map)})
            raise ModelError(
                f"model {self.gen.model} ships its own Python code ({', '.join(modules)[:200]}.py, named by "
                "config.json auto_map); it is not run without consent",
                hint=_REMOTE_CODE_HINT,
            )

    def _load_kwargs(self, torch) -> dict:
        cuda = torch.cuda.is_available()
        self.device = "cuda" if cuda else "cpu"
        dtype = self._dtype(torch, cuda)
        if self.gen.quantize == "none":
            return {"dtype": dtype}
        if not cuda:
            raise ConfigError(
                f"--quantize {self.gen.quantize} needs a CUDA GPU (bitsandbytes)",
                hint="on CPU use a quantized .gguf model with the llamacpp backend, or --quantize none",
            )
        try:
            import bitsandbytes  # noqa: F401  (fail early with a clear message)
            from transformers import BitsAndBytesConfig
        except ImportError:
            raise ModelError("bitsandbytes is not installed", hint="pip install bitsandbytes") from None
        if self.gen.quantize == "8bit":
            quant = BitsAndBytesConfig(load_in_8bit=True)
        else:
            quant = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype
            )
        return {"dtype": dtype, "quantization_config": quant, "device_map": "auto"}

    def _dtype(self, torch, cuda: bool):
        if self.gen.dtype != "auto":
            return getattr(torch, self.gen.dtype)
        if not cuda:
            return torch.float32  # half precision on CPU is slow and lossy
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    def _fit_context(self) -> None:
        # Never promise more context than the model has positions for.
        limit = getattr(self._model.config, "max_position_embeddings", None)
        if isinstance(limit, int) and 0 < limit < self.n_ctx:
            self.n_ctx = limit
        if self._tok.pad_token_id is None:
            self._pad_id = self._eos_ids()[0] if self._eos_ids() else 0
        else:
            self._pad_id = self._tok.pad_token_id

    # ---------------------------------------------------------------- prompts
    def _text(self, prompt: Prompt) -> str:
        if prompt.kind == "text":
            return prompt.text
        if getattr(self._tok, "chat_template", None):
            from jinja2 import TemplateError

            msgs = [{"role": r, "content": c} for r, c in prompt.messages]
            try:
                return self._tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
            except (TemplateError, ValueError, TypeError):  # some templates reject a system turn: fold it in
                return self._tok.apply_chat_template(
                    _fold_system(msgs), tokenize=False, add_generation_prompt=True
                )
        return "\n\n".join(c for _r, c in prompt.messages) + "\nAnswer:"

    def _encode(self, prompt: Prompt) -> dict:
        self.load()
        text = self._text(prompt)
        # A rendered chat template already carries its BOS; text prompts get the tokenizer's specials.
        enc = self._tok(text, return_tensors="pt", add_special_tokens=prompt.kind == "text")
        if hasattr(self._tok, "build_inputs_for_generation"):  # THUDM GLM: appends <sop> and 2-D positions
            enc = self._tok.build_inputs_for_generation(enc, max_gen_length=self.gen.max_new_tokens)
        return {k: v.to(self._model.device) for k, v in enc.items() if hasattr(v, "to")}

    def count_tokens(self, prompt: Prompt) -> int:
        """Exact number of tokens the model will be fed for ``prompt``."""
        return int(self._encode(prompt)["input_ids"].shape[-1])

    def _eos_ids(self) -> list[int]:
        ids: list[int] = []
        for value in (
            getattr(self._tok, "eop_token_id", None),
            self._tok.eos_token_id,
            getattr(self._model.generation_config, "eos_token_id", None),
        ):
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, int) and v not in ids:
                    ids.append(v)
        vocab = self._tok.get_vocab()
        ids += [vocab[t] for t in END_TOKENS if t in vocab and vocab[t] not in ids]
        return ids

    # ---------------------------------------------------------------- generation
    def _gen_kwargs(self, n: int, params: SamplingParams) -> dict:
        kw: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "pad_token_id": self._pad_id,
            "eos_token_id": self._eos_ids() or None,
            "num_return_sequences": n,
        }
        if params.repeat_penalty > 1.0:
            kw["repetition_penalty"] = params.repeat_penalty
        if params.temperature > 0:
            kw.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        elif n > 1:
            kw.update(do_sample=False, num_beams=n)  # deterministic yet distinct candidates
        else:
            kw.update(do_sample=False)
        return kw

    def generate(self, prompt: Prompt, n: int, params: SamplingParams) -> list[Completion]:
        """``n`` completions from one batched ``generate`` call."""
        import torch

        inputs = self._encode(prompt)
        width = inputs["input_ids"].shape[-1]
        t0 = time.perf_counter()
        with self._lock, torch.inference_mode():
            torch.manual_seed(params.seed)
            try:
                seqs = self._model.generate(**inputs, **self._gen_kwargs(n, params))
            except (RuntimeError, ValueError, IndexError) as exc:
                raise GenerationError(f"transformers generation failed: {exc}") from None
        seconds = (time.perf_counter() - t0) / n
        return [self._completion(row[width:].tolist(), width, params, seconds) for row in seqs]

    def _completion(
        self, ids: list[int], tokens_in: int, params: SamplingParams, seconds: float
    ) -> Completion:
        stops = set(self._eos_ids())
        cut = next((i for i, t in enumerate(ids) if t in stops), None)
        kept = ids if cut is None else ids[:cut]
        text = _cut_turns(self._tok.decode(kept, skip_special_tokens=True))
        reason = "length" if cut is None and len(ids) >= params.max_new_tokens else "stop"
        return Completion(text, tokens_in, len(kept), reason, None, seconds)

    def stream(self, prompt: Prompt, params: SamplingParams) -> Iterator[str]:
        """Decoded text pieces as the model produces them (generation runs in a thread)."""
        import torch
        from transformers import TextIteratorStreamer

        inputs = self._encode(prompt)
        streamer = TextIteratorStreamer(
            self._tok, skip_prompt=True, skip_special_tokens=True, timeout=self.gen.timeout
        )
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    torch.manual_seed(params.seed)
                    self._model.generate(**inputs, **self._gen_kwargs(1, params), streamer=streamer)
            except Exception as exc:  # noqa: BLE001 - re-raised in the consumer thread
                errors.append(exc)
                streamer.end()

        with self._lock:
            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            try:
                yield from _stream_until_turn(streamer)
            finally:
                worker.join()
        if errors:
            raise GenerationError(f"transformers generation failed: {errors[0]}")


def _fold_system(msgs: list[dict]) -> list[dict]:
    system = " ".join(m["content"] for m in msgs if m["role"] == "system")
    rest = [dict(m) for m in msgs if m["role"] != "system"]
    if system and rest:
        rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
    return rest


def _cut_turns(text: str) -> str:
    # Text-format prompts: a model that keeps going writes the next "Question:" itself.
    return text.split("\nQuestion:", 1)[0].strip()


def _stream_until_turn(streamer) -> Iterator[str]:
    seen = ""
    for piece in streamer:
        if not piece:
            continue
        seen += piece
        if "\nQuestion:" in seen:
            head = seen.split("\nQuestion:", 1)[0]
            rest = head[len(seen) - len(piece) :]
            if rest:
                yield rest
            for _ in streamer:  # drain so the producer thread can finish
                pass
            return
        yield piece
