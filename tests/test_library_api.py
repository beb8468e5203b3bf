"""The embedding API: exported names, injected components (protocols), per-call options, registry."""

import asyncio
import dataclasses

import pytest

import webglm
from webglm import (AskOptions, CandidateDone, ConfigError, DeadlineError, FinalEvent, InputError, Passage,
                    Reference, ReferencesReady, Retrieval, TokenEvent, WebGLM, WebGLMConfig, load_config)
from webglm import protocols, registry
from webglm.config import GenerateConfig
from webglm.generator import Completion, make_backend
from webglm.testing import FakeSearchEngine, HashEncoder

QUESTION = "How is green tea made?"
TEXTS = [
    "Green tea is made from leaves that are steamed soon after picking, which stops oxidation.",
    "Green tea leaves are rolled and dried after steaming, and green tea keeps its colour.",
    "Sencha is a green tea from Japan that is made by steaming the leaves of the tea plant.",
    "Black tea is made by letting the tea leaves oxidise fully, which turns them dark brown.",
]


class MemoryRetriever:
    """A product's own index: passages from memory, optionally slow."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.questions: list[str] = []

    async def retrieve(self, question: str) -> Retrieval:
        self.questions.append(question)
        await asyncio.sleep(self.delay)
        passages = tuple(Passage(f"m{i}", t, f"https://tea.example/{i}", f"Tea {i}", source="local")
                         for i, t in enumerate(TEXTS))
        return Retrieval(passages, events=("search: memory index",))


@dataclasses.dataclass(frozen=True)
class Ranked:
    references: tuple
    abstained: bool = False


class ReverseRanker:
    """Ranks passages in reverse order of arrival."""

    def rank(self, question, passages):
        return Ranked(tuple(Reference(i + 1, p, 1.0 / (i + 1)) for i, p in enumerate(reversed(passages))))


class OnlyGenerate:
    """The smallest generator backend: a model id and generate()."""

    model_id = "only-generate"

    def __init__(self):
        self.calls: list[int] = []

    def generate(self, prompt, n, params):
        self.calls.append(n)
        return [Completion(f"Green tea is made from leaves that are steamed soon after picking [1]. v{i}",
                           finish_reason="stop") for i in range(n)]


class DictStore:
    """A corpus store: rank() over fixed passages, honouring the call's top_k."""

    model_id = "dict-store"

    def rank(self, question, rank=None):
        k = (rank.top_k if rank is not None else 5)
        return Ranked(tuple(Reference(i + 1, Passage(f"s{i}", t, f"file:tea{i}.md", "tea", source="local"), 1.0)
                            for i, t in enumerate(TEXTS[:k])))

    def count(self):
        return len(TEXTS)


def _cfg(**overrides):
    return load_config(overrides={"generate.backend": "echo", **overrides})


def test_public_names_are_exported():
    for name in ("SearchEngine", "Retriever", "Ranker", "GeneratorBackend", "CorpusStore", "Encoder",
                 "RewardModel", "PageStore", "AskOptions", "DeadlineError", "Event", "ReferencesReady",
                 "TokenEvent", "CandidateDone", "FinalEvent", "EngineContext"):
        assert name in webglm.__all__, name
    for name in webglm.__all__:
        assert getattr(webglm, name) is not None, name
    # every protocol and every streaming event is public at the top level
    assert set(protocols.__all__) - {"Candidate"} <= set(webglm.__all__)
    from webglm import types

    events = {n for n in dir(types) if isinstance(getattr(types, n), type) and n in
              {c.__name__ for c in types.Event.__args__}}
    assert events and events <= set(webglm.__all__)


def test_fakes_satisfy_the_protocols():
    assert isinstance(MemoryRetriever(), protocols.Retriever)
    assert isinstance(ReverseRanker(), protocols.Ranker)
    assert isinstance(OnlyGenerate(), protocols.GeneratorBackend)
    assert isinstance(FakeSearchEngine(), protocols.SearchEngine)
    assert not isinstance(object(), protocols.Retriever)


def test_injected_retriever_ranker_and_minimal_backend_are_used():
    retriever, backend = MemoryRetriever(), OnlyGenerate()
    glm = WebGLM(_cfg(), retriever=retriever, ranker=ReverseRanker(), backend=backend)
    answer = glm.answer(QUESTION)
    assert retriever.questions == [QUESTION]
    assert backend.calls == [1]
    assert answer.trace.models["generator"] == "only-generate"
    # the ranker reversed the passages: reference [1] is the last passage the retriever gave
    assert answer.references[0].passage.id == "m3"
    assert "search: memory index" in answer.trace.events


def test_a_minimal_backend_streams_as_one_piece():
    glm = WebGLM(_cfg(), retriever=MemoryRetriever(), ranker=ReverseRanker(), backend=OnlyGenerate())

    async def run():
        return [ev async for ev in glm.stream(QUESTION)]

    events = asyncio.run(run())
    assert [type(e) for e in events] == [ReferencesReady, TokenEvent, CandidateDone, FinalEvent]
    assert events[1].text.startswith("Green tea is made from leaves")


def test_injected_store_answers_instead_of_the_web():
    glm = WebGLM(_cfg(), store=DictStore(), encoder=HashEncoder())
    answer = glm.answer(QUESTION, top_k=2)
    assert [r.passage.id for r in answer.references] == ["s0", "s1"]
    assert answer.trace.counters["passages"] == len(TEXTS)


def test_several_engines_become_a_failover_chain():
    from webglm.retriever import FailoverEngine

    first, second = FakeSearchEngine(fail="down", name="a"), FakeSearchEngine(name="b")
    glm = WebGLM(_cfg(), engine=[first, second])
    engine = glm._web_retriever().engine
    assert isinstance(engine, FailoverEngine) and engine.engines == [first, second]
    asyncio.run(glm.aclose())


def test_conflicting_sources_are_refused():
    with pytest.raises(ConfigError, match="at most one of corpus, store and retriever"):
        WebGLM(_cfg(), corpus="docs", retriever=MemoryRetriever())
    with pytest.raises(ConfigError, match="engine is only used by the web retriever"):
        WebGLM(_cfg(), engine=FakeSearchEngine(), retriever=MemoryRetriever())


def test_per_call_options_apply_to_that_call_only():
    backend = OnlyGenerate()
    glm = WebGLM(_cfg(**{"rank.top_k": 3}), retriever=MemoryRetriever(), encoder=HashEncoder(), backend=backend)
    one = glm.answer(QUESTION, top_k=1, candidates=2, language="fr")
    assert len(one.references) == 1
    assert backend.calls == [2] and len(one.candidates) == 2
    assert one.trace.language == "fr"
    again = glm.answer(QUESTION)
    assert len(again.references) == 3
    assert backend.calls == [2, 1] and len(again.candidates) == 1
    assert again.trace.language == "en"
    assert glm.config.rank.top_k == 3 and glm.config.scorer.candidates == 1


def test_per_call_top_k_cuts_an_injected_rankers_references():
    glm = WebGLM(_cfg(), retriever=MemoryRetriever(), ranker=ReverseRanker(), backend=OnlyGenerate())
    refs, _trace = asyncio.run(glm.areferences(QUESTION, top_k=2))
    assert [r.index for r in refs] == [1, 2]


def test_stream_takes_the_same_options():
    glm = WebGLM(_cfg(), retriever=MemoryRetriever(), encoder=HashEncoder(), backend=OnlyGenerate())

    async def run():
        return [ev async for ev in glm.stream(QUESTION, top_k=1, candidates=2)]

    events = asyncio.run(run())
    assert len(events[0].references) == 1
    assert sum(isinstance(e, CandidateDone) for e in events) == 2


def test_deadline_stops_a_slow_call_and_does_not_stick():
    glm = WebGLM(_cfg(), retriever=MemoryRetriever(delay=1.0), encoder=HashEncoder(), backend=OnlyGenerate())
    with pytest.raises(DeadlineError, match="0.2 s deadline .*retrieve"):
        glm.answer(QUESTION, deadline=0.2)
    assert glm.answer(QUESTION, deadline=30).text  # a later call with room finishes
    assert glm.answer(QUESTION).text


def test_deadline_caps_the_fetch_budgets_for_the_call():
    cfg = WebGLMConfig()
    capped = AskOptions(deadline=2.0).apply(cfg)
    assert capped.fetch.stage_budget == 1.0 and capped.fetch.page_timeout == 1.0
    assert cfg.fetch.page_timeout == 5.0
    assert AskOptions().apply(cfg) is cfg


@pytest.mark.parametrize("kwargs", [{"top_k": 0}, {"candidates": -1}, {"deadline": 0}, {"deadline": float("nan")},
                                    {"language": " "}, {"top_k": True}])
def test_bad_options_are_clear_errors(kwargs):
    with pytest.raises(InputError):
        AskOptions(**kwargs)


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ConfigError) as err:
        make_backend(GenerateConfig(backend="nope"))
    assert "unknown generator backend 'nope'" in str(err.value)
    assert "llamacpp" in err.value.hint and "echo" in err.value.hint
    with pytest.raises(ConfigError, match="unknown encoder 'nope'.*sentence-transformers"):
        load_config(overrides={"rank.encoder": "nope"})


def test_unknown_engine_lists_auto_and_the_builtins():
    import httpx

    from webglm.retriever import make_engine

    with pytest.raises(ConfigError) as err:
        make_engine("nope", WebGLMConfig().search, httpx.AsyncClient())
    assert "auto, searxng, brave, serpapi, duckduckgo" in err.value.hint


def test_registered_backend_is_built_by_name_and_names_cannot_be_taken_over():
    registry.backends.register("test-only", lambda gen: OnlyGenerate())
    try:
        assert "test-only" in registry.backends.names()
        assert isinstance(make_backend(GenerateConfig(backend="test-only")), OnlyGenerate)
        with pytest.raises(ConfigError, match="already registered by webglm"):
            registry.backends.register("echo", lambda gen: OnlyGenerate())
    finally:
        registry.backends.unregister("test-only")
    assert "test-only" not in registry.backends.names()


def test_a_plugin_that_fails_to_load_is_reported_not_fatal():
    reg = registry.Registry("thing", "webglm.test_group_nobody_uses", {"good": "webglm.testing:HashEncoder",
                                                                    "bad": "webglm.no_such_module:X"})
    assert reg.create("good").model_id.startswith("hash")
    with pytest.raises(ConfigError, match="failed to load: ModuleNotFoundError"):
        reg.create("bad")
    assert "bad" in reg.failures()


class ErrorOnGenerate(OnlyGenerate):
    def generate(self, prompt, n, params):
        return []


def test_a_stream_without_candidates_is_a_generation_error():
    from webglm import GenerationError

    glm = WebGLM(_cfg(), retriever=MemoryRetriever(), ranker=ReverseRanker(), backend=ErrorOnGenerate())

    async def run():
        return [ev async for ev in glm.stream(QUESTION, candidates=2)]

    with pytest.raises(GenerationError):
        asyncio.run(run())


def test_lifecycle_load_is_idempotent_and_close_is_safe_unused():
    asyncio.run(WebGLM(_cfg()).aclose())  # nothing opened yet: nothing to close, no error
    glm = WebGLM(_cfg(), retriever=MemoryRetriever(), encoder=HashEncoder(), backend=OnlyGenerate())
    assert glm.load() is glm
    first = dict(glm.load_seconds)
    glm.load()
    assert glm.load_seconds == first  # the second load() did nothing


def test_async_lifecycle_answers_repeatedly_inside_one_loop():
    backend = OnlyGenerate()

    async def run():
        async with WebGLM(_cfg(), retriever=MemoryRetriever(), encoder=HashEncoder(), backend=backend) as glm:
            a = await glm.aanswer(QUESTION)
            b = await glm.aanswer(QUESTION, top_k=1)
            return a, b

    a, b = asyncio.run(run())
    assert a.text and b.text and len(b.references) == 1
    assert backend.calls == [1, 1]


def test_a_registered_store_scheme_opens_as_a_corpus():
    opened = []

    def factory(uri, encoder, config, create):
        opened.append((uri, create))
        return DictStore()

    registry.stores.register("memtest", factory)
    try:
        glm = WebGLM(_cfg(), corpus="memtest:tea", encoder=HashEncoder(), backend=OnlyGenerate())
        answer = glm.answer(QUESTION, top_k=1)
    finally:
        registry.stores.unregister("memtest")
    assert opened == [("memtest:tea", False)]
    assert [r.passage.id for r in answer.references] == ["s0"]


def test_an_unknown_store_scheme_lists_the_known_stores():
    assert registry.store_scheme("docs") is None and registry.store_scheme("C:/docs") is None
    assert registry.store_scheme("milvus-lite:docs.db") == "milvus-lite"
    with pytest.raises(ConfigError, match="unknown corpus store 'pgvector'") as err:
        registry.store_scheme("pgvector://db/docs")
    assert "milvus-lite, milvus" in err.value.hint


def test_unknown_engine_or_backend_names_fail_at_construction():
    with pytest.raises(ConfigError, match="unknown search engine 'nope'"):
        WebGLM(load_config(overrides={"search.engine": "nope"}))
    with pytest.raises(ConfigError, match="unknown generator backend 'nope'"):
        WebGLM(load_config(overrides={"generate.backend": "nope"}), corpus="docs")
    WebGLM(load_config(overrides={"generate.backend": "nope"}), corpus="docs", backend=OnlyGenerate())


def test_stream_reports_the_search_hits_before_the_references():
    from webglm import SearchDone, SearchHit
    from webglm.retriever.testing import PageServer

    with PageServer() as server:
        url = server.add("/tea", "<html><body><article><p>" + TEXTS[0] + "</p><p>" + TEXTS[1]
                         + "</p></article></body></html>")
        hits = [SearchHit(url, "Green tea", "steamed leaves", 1, "fake")]
        cfg = _cfg(**{"fetch.allow_hosts": (f"127.0.0.1:{server.port}",)})
        glm = WebGLM(cfg, engine=FakeSearchEngine(hits), encoder=HashEncoder(), backend=OnlyGenerate())

        async def run():
            try:
                return [ev async for ev in glm.stream(QUESTION)]
            finally:
                await glm.aclose()

        events = asyncio.run(run())
    assert isinstance(events[0], SearchDone) and events[0].hits == tuple(hits)
    assert isinstance(events[1], ReferencesReady) and events[1].references[0].passage.url == url
    assert isinstance(events[-1], FinalEvent)
    # an injected retriever has no search step: the stream starts with the references
    glm = WebGLM(_cfg(), retriever=MemoryRetriever(), encoder=HashEncoder(), backend=OnlyGenerate())

    async def plain():
        return [ev async for ev in glm.stream(QUESTION)]

    assert isinstance(asyncio.run(plain())[0], ReferencesReady)
