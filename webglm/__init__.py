"""webglm: web-enhanced question answering with cited answers.

Importing ``webglm`` is cheap: models and torch load on first use.
"""

from .config import (
    ChunkConfig,
    CitationConfig,
    CorpusConfig,
    FetchConfig,
    GenerateConfig,
    RankConfig,
    ScorerConfig,
    SearchConfig,
    ServeConfig,
    WebGLMConfig,
    load_config,
)
from .errors import (
    BlockedURLError,
    ConfigError,
    CorpusError,
    EvalError,
    FetchError,
    GenerationError,
    InputError,
    ModelError,
    ScorerError,
    SearchError,
    WebGLMError,
)
from .types import (
    Answer,
    Candidate,
    Evidence,
    Failure,
    Page,
    Passage,
    Reference,
    Retrieval,
    ScoredAnswer,
    SearchHit,
    Trace,
    answer_from_json,
    from_dict,
    to_dict,
    to_json,
)

__version__ = "0.1.0"

__all__ = [
    "WebGLM",
    "WebGLMConfig", "SearchConfig", "FetchConfig", "ChunkConfig", "CorpusConfig", "RankConfig", "GenerateConfig",
    "CitationConfig", "ScorerConfig", "ServeConfig", "load_config",
    "WebGLMError", "ConfigError", "InputError", "CorpusError", "ModelError", "SearchError", "FetchError",
    "BlockedURLError", "GenerationError", "ScorerError", "EvalError",
    "Answer", "Candidate", "Evidence", "Failure", "Page", "Passage", "Reference", "Retrieval", "ScoredAnswer",
    "SearchHit", "Trace", "to_dict", "from_dict", "to_json", "answer_from_json",
]


def __getattr__(name: str):
    if name == "WebGLM":
        from .pipeline import WebGLM

        return WebGLM
    raise AttributeError(f"module 'webglm' has no attribute {name!r}")
