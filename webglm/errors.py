"""The webglm error tree.

``WebGLMError`` is the root. Each error carries the ``stage`` it came from and,
where one is involved, the ``url`` (or file path). Errors are for whole-stage
failures and bad input; a single failing page, file or question is recorded as a
:class:`webglm.types.Failure` in the trace and the run goes on.

    WebGLMError
    ├── ConfigError          invalid settings, unknown backend/engine names, missing keys
    ├── InputError           bad user input (empty question, malformed dataset row)
    ├── CorpusError          a corpus path is missing or has no readable documents
    ├── ModelError           a model file is missing or cannot be loaded / run
    ├── SearchError          every configured search engine failed
    ├── FetchError           a page could not be fetched (raised inside the stage; recorded)
    │   └── BlockedURLError  the URL points at a non-public address or forbidden scheme/port
    ├── GenerationError      the generator failed for a whole request
    ├── ScorerError          the reward model failed
    ├── DeadlineError        a call's ``deadline`` passed before its answer was ready
    └── EvalError            a dataset or evaluation run cannot proceed
"""

from __future__ import annotations


class WebGLMError(Exception):
    """Root of all webglm errors. ``str(err)`` is one line meant for users."""

    stage: str = ""

    def __init__(self, message: str, *, stage: str | None = None, url: str = "", hint: str = "",
                 runtime: bool = False):
        self.message = message
        # A failure of the running system (a server down, a damaged file, a full disk) rather than
        # of what the user asked for: the CLI exits 1 for it even when the class is a usage one.
        self.runtime = runtime
        if stage is not None:
            self.stage = stage
        self.url = url
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        text = self.message
        if self.url and self.url not in text:
            text = f"{text} ({self.url})"
        if self.hint:
            text = f"{text}. {self.hint}"
        return text


class ConfigError(WebGLMError):
    stage = "config"


class InputError(WebGLMError):
    stage = "input"


class CorpusError(WebGLMError):
    stage = "corpus"


class ModelError(WebGLMError):
    stage = "model"


class SearchError(WebGLMError):
    stage = "search"


class FetchError(WebGLMError):
    stage = "fetch"

    def __init__(self, message: str, *, kind: str = "fetch", **kwargs):
        self.kind = kind
        super().__init__(message, **kwargs)


class BlockedURLError(FetchError):
    def __init__(self, message: str, **kwargs):
        kwargs.setdefault("kind", "blocked")
        super().__init__(message, **kwargs)


class GenerationError(WebGLMError):
    stage = "generate"


class ScorerError(WebGLMError):
    stage = "score"


class EvalError(WebGLMError):
    stage = "eval"


class DeadlineError(WebGLMError):
    """The per-call ``deadline`` passed; ``stage`` names the stage that was running."""

    stage = "deadline"
