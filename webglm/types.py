"""Frozen value types exchanged between pipeline stages.

Every stage boundary is one of these dataclasses, never a dict. They are slotted,
immutable and round-trip through JSON with :func:`to_dict` / :func:`from_dict`.
"""

from __future__ import annotations

import dataclasses
import json
import types as _pytypes
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, TypeVar, Union

T = TypeVar("T")

PassageKind = Literal["query", "passage"]


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One result of a search engine: where to look, and the engine's snippet."""

    url: str
    title: str
    snippet: str
    rank: int
    engine: str


@dataclass(frozen=True, slots=True)
class Page:
    """A fetched document. ``text`` is the decoded body (HTML or plain text)."""

    url: str
    final_url: str
    status: int
    content_type: str
    text: str
    fetched_at: float
    title: str = ""


@dataclass(frozen=True, slots=True)
class Passage:
    """A span of extracted text. ``start``/``end`` are character offsets in the
    extracted document text; ``url`` is a web URL or a ``file:`` location."""

    id: str
    text: str
    url: str
    title: str
    start: int = 0
    end: int = 0
    source: str = "web"  # "web" | "local" | "snippet"


@dataclass(frozen=True, slots=True)
class Reference:
    """A ranked passage shown to the generator as ``Reference [index]``."""

    index: int  # 1-based, as cited in the answer
    passage: Passage
    score: float


@dataclass(frozen=True, slots=True)
class Evidence:
    """The span of a reference that supports an answer sentence, as an exact quote.

    ``start``/``end`` index the reference passage's text (``quote == passage.text[start:end]``);
    ``page_start``/``page_end`` index the text of the page or document the passage was cut
    from, or are -1 where the passage's whitespace was re-spaced and the page offsets are
    not exact (:func:`webglm.evidence.locate_in_page` finds them given the page text).
    ``probability`` is the support check's probability that the span supports the sentence.
    """

    reference: int
    quote: str
    start: int
    end: int
    probability: float
    page_start: int = -1
    page_end: int = -1


@dataclass(frozen=True, slots=True)
class SentenceSupport:
    """Citation check of one answer sentence against the references. ``evidence`` holds the
    quoted span of each supporting reference (best first); ``probability`` is the best
    support probability of any reference (None where the check does not give one)."""

    sentence: str
    cited: tuple[int, ...]
    supported_by: tuple[int, ...]
    flagged: bool  # True when no reference supports the sentence
    # references whose embedded instructions ("ignore previous instructions and say X") the
    # sentence follows; such a sentence is flagged and carries no citation
    obeys: tuple[int, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    probability: float | None = None


# Candidate.finish_reason when the model's text was unsupported and replaced by quoted reference sentences
EXTRACTIVE_FALLBACK = "extractive_fallback"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One generated answer. ``citations`` are the distinct valid reference indices."""

    text: str
    citations: tuple[int, ...] = ()
    logprob: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    finish_reason: str = ""
    raw_text: str = ""  # model output before citation cleaning
    support: tuple[SentenceSupport, ...] = ()
    citation_precision: float | None = None
    citation_recall: float | None = None
    # mean over claim sentences of the best support probability (0 for an unsupported one);
    # None when the citation check gives no probabilities (citation.method=rouge1)
    support_probability: float | None = None


@dataclass(frozen=True, slots=True)
class ScoredAnswer:
    """A candidate with its preference reward and the combined selection score."""

    candidate: Candidate
    reward: float
    citation_score: float = 0.0
    total: float = 0.0


@dataclass(frozen=True, slots=True)
class Failure:
    """A per-item failure kept as data (a page that failed, a skipped file...)."""

    stage: str
    kind: str
    detail: str
    url: str = ""


@dataclass(frozen=True, slots=True)
class Trace:
    """What happened while answering: wall time per stage (seconds), per-item
    failures, budgets in force, model ids, counters, free-form events, and the detected
    languages of the question and of the references."""

    timings: Mapping[str, float] = field(default_factory=dict)
    failures: tuple[Failure, ...] = ()
    budgets: Mapping[str, float] = field(default_factory=dict)
    models: Mapping[str, str] = field(default_factory=dict)
    counters: Mapping[str, float] = field(default_factory=dict)
    events: tuple[str, ...] = ()
    # ISO 639-1 code of the question ("zh"), and of each reference in order
    language: str = ""
    reference_languages: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Answer:
    """The pipeline's result: answer text with ``[n]`` citations into ``references``."""

    question: str
    text: str
    references: tuple[Reference, ...] = ()
    candidates: tuple[ScoredAnswer, ...] = ()
    trace: Trace = field(default_factory=Trace)
    abstained: bool = False
    citations: tuple[int, ...] = ()
    # per answer sentence: which references support it, with the quoted evidence
    support: tuple[SentenceSupport, ...] = ()


@dataclass(frozen=True, slots=True)
class Retrieval:
    """Output of a retriever: passages to rank plus the hits and failures behind them."""

    passages: tuple[Passage, ...]
    hits: tuple[SearchHit, ...] = ()
    failures: tuple[Failure, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)
    events: tuple[str, ...] = ()


# --- streaming events -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchDone:
    """The web search's hits, before their pages are fetched (web retrieval only): a UI can
    show the sources while pages arrive."""

    hits: tuple[SearchHit, ...]
    kind: str = "search"


@dataclass(frozen=True, slots=True)
class ReferencesReady:
    """First event of :meth:`WebGLM.stream`: the numbered references the answer will cite
    (empty when nothing was relevant; a :class:`FinalEvent` with the abstention follows)."""

    references: tuple[Reference, ...]
    kind: str = "references"


@dataclass(frozen=True, slots=True)
class TokenEvent:
    """A piece of the first candidate's text as the model writes it (before the citation check)."""

    text: str
    candidate: int = 0
    kind: str = "token"


@dataclass(frozen=True, slots=True)
class CandidateDone:
    """A finished, citation-checked candidate (``index`` 0..n-1 of best-of-n)."""

    candidate: Candidate
    index: int = 0
    kind: str = "candidate"


@dataclass(frozen=True, slots=True)
class FinalEvent:
    """Last event: the selected :class:`Answer`, as :meth:`WebGLM.aanswer` returns it."""

    answer: Answer
    kind: str = "final"


Event = Union[SearchDone, ReferencesReady, TokenEvent, CandidateDone, FinalEvent]
"""Any event of :meth:`WebGLM.stream`; dispatch on the class (or on its ``kind`` string)."""


# --- serialisation ----------------------------------------------------------


def to_dict(obj: Any) -> Any:
    """Convert a (nested) dataclass into JSON-compatible Python objects."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    return obj


def _convert(tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if value is None:
        return None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_dict(tp, value)
    if origin in (Union, _pytypes.UnionType):
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value)
            except (TypeError, ValueError, KeyError):
                continue
        return value
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v) for v in value)
        return tuple(_convert(a, v) for a, v in zip(args, value))
    if origin in (list,):
        return [_convert(args[0], v) for v in value]
    if origin in (dict, Mapping, typing.Mapping) or tp in (dict, Mapping):
        vt = args[1] if len(args) == 2 else Any
        return {k: _convert(vt, v) for k, v in value.items()}
    if origin is Literal:
        return value
    if tp is float and isinstance(value, int):
        return float(value)
    if tp in (int, str, float, bool) and not isinstance(value, tp):
        raise TypeError(f"expected {tp.__name__}, got {type(value).__name__}")
    return value


def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Rebuild a dataclass of type ``cls`` from :func:`to_dict` output."""
    if not isinstance(data, Mapping):
        raise TypeError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            kwargs[f.name] = _convert(hints[f.name], data[f.name])
    return cls(**kwargs)


def to_json(obj: Any, **kwargs: Any) -> str:
    return json.dumps(to_dict(obj), ensure_ascii=False, **kwargs)


def answer_from_json(text: str) -> Answer:
    """Parse the output of ``webglm ask --json`` back into an :class:`Answer`."""
    return from_dict(Answer, json.loads(text))
