"""What every generation backend speaks: sampling parameters in, completions out.

The concrete backends (:mod:`.backends` for llama.cpp and the echo stand-in, :mod:`.hf`,
:mod:`.openai`) import these from here, and :func:`.backends.make_backend` imports them
lazily, so no backend module imports another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol

from .prompts import Prompt

__all__ = ["Backend", "Completion", "SamplingParams"]


@dataclass(frozen=True, slots=True)
class SamplingParams:
    max_new_tokens: int = 200
    temperature: float = 0.0
    top_p: float = 0.9
    seed: int = 0  # completion i of a generate() call is sampled with seed + i
    repeat_penalty: float = 1.0
    # a GBNF grammar the output must follow; backends that cannot constrain decoding ignore it
    # (the writer verifies what comes back either way)
    grammar: str = ""


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    finish_reason: str = ""
    logprob: float | None = None
    seconds: float = 0.0


class Backend(Protocol):
    model_id: str
    n_ctx: int
    default_template: str

    def load(self) -> None: ...

    def count_tokens(self, prompt: Prompt) -> int: ...

    def generate(self, prompt: Prompt, n: int, params: SamplingParams) -> list[Completion]: ...

    def stream(self, prompt: Prompt, params: SamplingParams) -> Iterator[str]: ...
