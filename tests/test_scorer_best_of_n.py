"""Best-of-n through the pipeline: streamed and batch paths give the same, distinct candidates."""

import asyncio

import pytest

from webglm import WebGLM, load_config
from webglm.errors import GenerationError
from webglm.testing import HashEncoder, LengthRewardModel
from webglm.types import CandidateDone, FinalEvent

QUESTION = "How is green tea made and why does it stay green?"


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBGLM_CACHE", str(tmp_path / "cache"))
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "tea.md").write_text(
        "# Green tea\n\nGreen tea is made from leaves that are steamed or pan-fired soon after picking, "
        "which stops oxidation and keeps the leaves green. Green tea leaves are rolled and dried after "
        "steaming.\n\nSencha is the most popular green tea in Japan and is made by steaming the leaves.\n\n"
        "Black tea is made by letting the leaves oxidise fully, which turns them dark.\n")
    return d


def _glm(corpus, n, backend="echo", reward=None, **overrides):
    cfg = load_config(overrides={"generate.backend": backend, "scorer.candidates": n, **overrides})
    return WebGLM(cfg, corpus=corpus, encoder=HashEncoder(), reward_model=reward or LengthRewardModel())


async def _streamed(glm):
    events = [ev async for ev in glm.stream(QUESTION)]
    done = [ev.candidate.text for ev in events if isinstance(ev, CandidateDone)]
    return done, events[-1]


def _check_same(glm_stream, glm_batch, n):
    streamed, final = asyncio.run(_streamed(glm_stream))
    batch = glm_batch.answer(QUESTION)
    batch_texts = sorted(s.candidate.text for s in batch.candidates)
    assert isinstance(final, FinalEvent)
    assert len(streamed) == n and len(set(streamed)) == n, streamed  # no copies to choose between
    assert sorted(streamed) == batch_texts  # the same candidates on both paths
    assert final.answer.text == batch.text  # and the same choice


@pytest.mark.parametrize("n", [2, 3])
def test_stream_and_aanswer_make_the_same_distinct_candidates(corpus, n):
    _check_same(_glm(corpus, n), _glm(corpus, n), n)


def test_write_continues_after_streamed_candidates(corpus):
    glm = _glm(corpus, 3)
    refs = glm.answer(QUESTION).references
    writer = glm.writer
    whole = [c.text for c in writer.write(QUESTION, refs, 3)]
    assert [c.text for c in writer.write(QUESTION, refs, 3, first=1)] == whole[1:]
    with pytest.raises(GenerationError, match="first"):
        writer.write(QUESTION, refs, 2, first=2)


@pytest.mark.slow
@pytest.mark.parametrize("n", [2, 3])
def test_sampled_llamacpp_candidates_match_across_paths(corpus, n):
    """The packaged SmolLM2 GGUF samples candidate k with seed + k on both paths.

    Each path gets its own freshly loaded model, as two runs of `webglm ask` would: llama.cpp
    reuses the evaluated prompt between calls, and a prompt evaluated in another batch shape
    differs in the last bits of its logits, which can change what is sampled."""
    over = {"generate.n_threads": 1, "generate.max_new_tokens": 24, "generate.fallback": "none"}
    glm_stream, glm_batch = (_glm(corpus, n, backend="llamacpp", **over).load() for _ in range(2))
    _check_same(glm_stream, glm_batch, n)


def test_one_candidate_gets_the_citation_score_best_of_n_gives():
    from webglm import WebGLM
    from webglm.scorer.select import citation_quality
    from webglm.types import Candidate

    cand = Candidate("Paris is in France [1]. It is big.", (1,), citation_precision=1.0, citation_recall=0.5)
    (scored,) = WebGLM()._select("Where is Paris?", [cand], None, None)
    assert scored.citation_score == pytest.approx(citation_quality(cand)) == pytest.approx(2 / 3)
