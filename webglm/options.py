"""Per-call options: settings one ``answer()`` call overrides without touching the instance.

A web service shares one :class:`~webglm.pipeline.WebGLM` between requests; each request can
ask for fewer references, more candidates, another answer language or a deadline::

    glm.answer(question, top_k=3, deadline=8.0, language="zh", candidates=3)

The options build a new frozen config for that call only; the instance's ``config`` is never
changed, so nothing leaks into the next call (or into a concurrent one).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Awaitable, TypeVar

from .config import WebGLMConfig
from .errors import DeadlineError, InputError

if TYPE_CHECKING:  # pragma: no cover
    from .trace import TraceBuilder

T = TypeVar("T")

# A deadline caps the fetch stage at this share of it: pages that have arrived by then are
# used, and the rest of the time is left for ranking and generation.
FETCH_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class AskOptions:
    """Overrides for one call; ``None`` keeps the instance's setting.

    ``top_k``: references to answer from (``rank.top_k``). ``deadline``: seconds for the whole
    call; past it the call raises :class:`~webglm.errors.DeadlineError`. ``language``: the
    answer's language (``generate.language``: a code such as "en"/"zh", or "auto").
    ``candidates``: answers generated for best-of-n (``scorer.candidates``).
    """

    top_k: int | None = None
    deadline: float | None = None
    language: str | None = None
    candidates: int | None = None

    def __post_init__(self) -> None:
        for name in ("top_k", "candidates"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise InputError(f"{name} must be a whole number >= 1, got {value!r}", stage="options")
        if self.deadline is not None and not (isinstance(self.deadline, (int, float))
                                              and math.isfinite(self.deadline) and self.deadline > 0):
            raise InputError(f"deadline must be a number of seconds > 0, got {self.deadline!r}",
                             stage="options", hint="e.g. deadline=8.0")
        if self.language is not None and (not isinstance(self.language, str) or not self.language.strip()):
            raise InputError(f"language must be a language code or 'auto', got {self.language!r}",
                             stage="options", hint="e.g. language='en', 'zh' or 'auto'")

    def apply(self, config: WebGLMConfig) -> WebGLMConfig:
        """``config`` with these overrides (``config`` itself when there are none)."""
        if self == NO_OPTIONS:
            return config
        sections: dict[str, object] = {}
        if self.top_k is not None:
            sections["rank"] = dataclasses.replace(config.rank, top_k=self.top_k)
        if self.language is not None:
            sections["generate"] = dataclasses.replace(config.generate, language=self.language.strip())
        if self.candidates is not None:
            sections["scorer"] = dataclasses.replace(config.scorer, candidates=self.candidates)
        if self.deadline is not None:
            budget = self.deadline * FETCH_SHARE
            f = config.fetch
            sections["fetch"] = dataclasses.replace(
                f, stage_budget=min(f.stage_budget, budget), page_timeout=min(f.page_timeout, budget),
                total_timeout=min(f.total_timeout, budget))
        return dataclasses.replace(config, **sections)  # type: ignore[arg-type]


NO_OPTIONS = AskOptions()


class Call:
    """One call's effective settings: the instance's config with the call's options applied."""

    def __init__(self, base: WebGLMConfig, options: AskOptions) -> None:
        self.options = options
        self.config = options.apply(base)
        self.deadline = options.deadline
        self.ends = time.monotonic() + options.deadline if options.deadline is not None else None

    def remaining(self) -> float | None:
        return None if self.ends is None else max(0.0, self.ends - time.monotonic())

    def expired(self, tb: "TraceBuilder") -> DeadlineError:
        return DeadlineError(f"no answer within the {self.deadline:g} s deadline (during {tb.stage or 'setup'})",
                             hint="raise the deadline, or lower top_k / candidates")

    async def within(self, awaitable: Awaitable[T], tb: "TraceBuilder") -> T:
        """``awaitable`` bounded by what is left of the deadline."""
        if self.ends is None:
            return await awaitable
        try:
            return await asyncio.wait_for(awaitable, self.remaining())
        except (asyncio.TimeoutError, TimeoutError):
            raise self.expired(tb) from None

__all__ = ["AskOptions", "NO_OPTIONS", "FETCH_SHARE", "Call"]
