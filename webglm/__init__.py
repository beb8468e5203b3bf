"""webglm: web-enhanced question answering with cited answers.

Importing ``webglm`` is cheap: models and torch load on first use.
"""

import logging

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
    DeadlineError,
    EvalError,
    FetchError,
    GenerationError,
    InputError,
    ModelError,
    ScorerError,
    SearchError,
    WebGLMError,
)
from .options import AskOptions
from .protocols import (
    CorpusStore,
    Encoder,
    GeneratorBackend,
    PageStore,
    Ranked,
    Ranker,
    Retriever,
    RewardModel,
    SearchEngine,
)
from .registry import EngineContext
from .types import (
    Answer,
    Candidate,
    CandidateDone,
    Event,
    Evidence,
    Failure,
    FinalEvent,
    Page,
    Passage,
    Reference,
    ReferencesReady,
    SearchDone,
    Retrieval,
    ScoredAnswer,
    SearchHit,
    TokenEvent,
    Trace,
    answer_from_json,
    from_dict,
    to_dict,
    to_json,
)

__version__ = "0.1.0"

# Messages go to the "webglm" logger hierarchy (webglm.pipeline, webglm.serve, ...); the host
# application decides where they end up. Nothing in the library configures the root logger.
logging.getLogger("webglm").addHandler(logging.NullHandler())

__all__ = [
    "WebGLM",
    "WebGLMConfig", "SearchConfig", "FetchConfig", "ChunkConfig", "CorpusConfig", "RankConfig", "GenerateConfig",
    "CitationConfig", "ScorerConfig", "ServeConfig", "load_config",
    "WebGLMError", "ConfigError", "InputError", "CorpusError", "ModelError", "SearchError", "FetchError",
    "BlockedURLError", "GenerationError", "ScorerError", "EvalError", "DeadlineError",
    "Answer", "Candidate", "Evidence", "Failure", "Page", "Passage", "Reference", "Retrieval", "ScoredAnswer",
    "SearchHit", "Trace", "to_dict", "from_dict", "to_json", "answer_from_json",
    # streaming events (WebGLM.stream yields them; Event is their union)
    "Event", "SearchDone", "ReferencesReady", "TokenEvent", "CandidateDone", "FinalEvent",
    # per-call options and the protocols of injectable components
    "AskOptions", "SearchEngine", "Retriever", "Ranker", "Ranked", "GeneratorBackend", "Encoder", "RewardModel",
    "CorpusStore", "PageStore", "EngineContext",
]


def __getattr__(name: str) -> type:
    if name == "WebGLM":
        from .pipeline import WebGLM

        return WebGLM
    raise AttributeError(f"module 'webglm' has no attribute {name!r}")
