"""The CLI end to end: real corpus indexing and ranking through `webglm ask`, with the hash encoder
and the echo backend for speed (the default models run end to end in test_default_pipeline.py)."""

import json
import re

import pytest
from typer.testing import CliRunner

from webglm.cli import app
from webglm.types import answer_from_json

FAST = ["--set", "rank.encoder=hash", "--backend", "echo", "-q"]


@pytest.fixture
def corpus(tmp_path):
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "tea.md").write_text(
        "# Green tea\n\nGreen tea is made from leaves that are steamed or pan-fired soon after picking, "
        "which stops oxidation and keeps the leaves green.\n\nSencha is the most popular green tea in Japan.\n")
    (d / "coffee.txt").write_text(
        "Coffee beans are the roasted seeds of the coffee plant. Arabica and robusta are the two main species "
        "grown for the coffee trade.\n")
    (d / "page.html").write_text("<html><head><title>Volcanoes</title></head><body><p>Volcanoes erupt when "
                                 "magma rises through cracks in the crust of the Earth and escapes.</p></body></html>")
    (d / "blob.bin").write_bytes(bytes(range(256)) * 20)  # not a corpus suffix: never read
    (d / "binary.txt").write_bytes(b"\x00\x01\x02PK\x03\x04" * 100)  # read, found binary, skipped
    return d


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBGLM_CACHE", str(tmp_path / "cache"))
    for var in ("SEARXNG_URL", "BRAVE_API_KEY", "SERPAPI_API_KEY"):
        monkeypatch.delenv(var, raising=False)


def run(*args):
    return CliRunner().invoke(app, list(args))


def test_ask_corpus_prints_cited_answer(corpus, env):
    res = run("ask", "How is green tea made?", "--corpus", str(corpus), *FAST)
    assert res.exit_code == 0, res.output
    out = res.stdout
    answer_text, refs = out.split("References:", 1)
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer_text)}
    listed = {int(n) for n in re.findall(r"^\[(\d+)\]", refs, re.M)}
    assert cited and cited <= listed
    assert "steamed" in out
    assert "timings:" in out


def test_ask_json_round_trips(corpus, env):
    res = run("ask", "What are the two main coffee species?", "--corpus", str(corpus), "--json", *FAST)
    assert res.exit_code == 0, res.output
    answer = answer_from_json(res.stdout)
    assert answer.question == "What are the two main coffee species?"
    assert answer.references and set(answer.citations) <= {r.index for r in answer.references}
    assert "rank" in answer.trace.timings and "generate" in answer.trace.timings
    # the binary .txt file was skipped and recorded, not fatal; the .bin file was never read
    assert [f.url.rsplit("/", 1)[-1] for f in answer.trace.failures if f.stage == "corpus"] == ["binary.txt"]
    assert not any("blob.bin" in f.url for f in answer.trace.failures)


def test_index_build_then_ask_index(corpus, env, tmp_path):
    out = tmp_path / "idx"
    res = run("index", "build", str(corpus), "--out", str(out), "--set", "rank.encoder=hash", "-q")
    assert res.exit_code == 0, res.output
    assert "(1 skipped)" in res.stdout, res.stdout
    res = run("ask", "What stops oxidation of tea leaves?", "--corpus", str(out), *FAST)
    assert res.exit_code == 0, res.output
    assert "[1]" in res.stdout


@pytest.mark.parametrize(
    "args,needle",
    [
        (["ask", "   "], "empty"),
        (["ask", "q?", "--corpus", "/nonexistent/dir"], "not found"),
        (["ask", "q?", "--set", "rank.top_k"], "KEY=VALUE"),
        (["ask", "q?", "--set", "rank.bogus=1"], "unknown setting"),
        (["ask", "q?"], "--corpus"),
    ],
)
def test_user_errors_are_one_line_exit_2(args, needle, env):
    res = run(*args, *FAST)
    assert res.exit_code == 2, res.output
    assert needle in res.stderr
    assert "Traceback" not in res.output


def test_corpus_without_readable_files(tmp_path, env):
    d = tmp_path / "empty"
    d.mkdir()
    (d / "x.bin").write_bytes(b"\x00\x01\x02" * 100)
    res = run("ask", "anything?", "--corpus", str(d), *FAST)
    assert res.exit_code == 2
    assert "Traceback" not in res.output


def test_missing_model_file(corpus, env):
    res = run("ask", "q?", "--corpus", str(corpus), "--set", "rank.encoder=hash",
              "--backend", "llamacpp", "--model", "/nonexistent/model.gguf", "-q")
    assert res.exit_code == 1  # the model cannot be loaded: a runtime failure
    assert "model.gguf" in res.stderr


def test_eval_webglm_qa_file_writes_report(tmp_path, env):
    rows = [
        {"question": "When was the Eiffel Tower completed?", "answer": "It was completed in 1889 [1].",
         "references": ["The Eiffel Tower in Paris was completed in 1889 for the World's Fair.",
                        "Paris is the capital of France."]},
        {"question": "What do pandas eat?", "answer": "Mostly bamboo [1].",
         "references": ["Giant pandas eat bamboo almost exclusively, up to 38 kg a day."]},
    ]
    data = tmp_path / "qa.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "run"
    res = run("eval", str(data), "--out", str(out), "--format", "webglm-qa", "--set", "generate.backend=echo", "-q")
    assert res.exit_code == 0, res.output
    assert (out / "report.md").is_file() and (out / "report.json").is_file()
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 2
    # a second run resumes: nothing re-run, still one row per id
    res = run("eval", str(data), "--out", str(out), "--format", "webglm-qa", "--set", "generate.backend=echo", "-q")
    assert res.exit_code == 0, res.output
    assert len((out / "results.jsonl").read_text().splitlines()) == 2


def test_eval_bad_dataset_is_exit_2(tmp_path, env):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok?", "answer": ["x"]}\nnot json\n')
    res = run("eval", str(bad), "--out", str(tmp_path / "o"), "--format", "nq-open", "-q")
    assert res.exit_code == 2
    assert "line 2" in res.stderr


@pytest.mark.slow
def test_ask_candidates_lists_all_with_scores(corpus, env):
    res = run("ask", "How is green tea made and what stops oxidation?", "--corpus", str(corpus), "--candidates", "3",
              "--json", *FAST)
    assert res.exit_code == 0, res.output
    answer = answer_from_json(res.stdout)
    assert len(answer.candidates) == 3
    totals = [c.total for c in answer.candidates]
    assert totals == sorted(totals, reverse=True)
    assert answer.text == answer.candidates[0].candidate.text
    assert "scorer" in answer.trace.models


def test_score_command_ranks_answers(env):
    res = run("score", "How do I keep beer cold?", "Put it in the fridge.",
              "Store the bottles upright in a refrigerator at 3 to 5 degrees; an ice bath with salt chills cans fast.")
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("1. total=")
    assert len(res.stdout.strip().splitlines()) == 2


def test_stream_prints_tokens_then_checked_answer(corpus, env):
    res = run("ask", "How is green tea made?", "--corpus", str(corpus), "--stream", *FAST)
    assert res.exit_code == 0, res.output
    assert "References:" in res.stdout and "timings:" in res.stdout
    assert re.search(r"\[\d\]", res.stdout.split("References:")[0])


def test_quoted_fallback_is_labelled_in_the_answer_and_the_candidates():
    from webglm.cli import format_answer
    from webglm.types import Answer, Candidate, Passage, Reference, ScoredAnswer

    ref = Reference(1, Passage("p1", "Green tea leaves are steamed soon after picking.", "file:tea.md", "Tea"), 0.9)
    quoted = Candidate("Green tea leaves are steamed soon after picking [1].", (1,),
                       finish_reason="extractive_fallback", raw_text="Tea is a kind of coffee.")
    written = Candidate("Green tea is steamed after picking [1].", (1,), finish_reason="stop")
    best_quoted = Answer("How is green tea made?", quoted.text, (ref,),
                         (ScoredAnswer(quoted, 0.5, 1.0, 1.5), ScoredAnswer(written, 0.2, 1.0, 1.2)), citations=(1,))
    out = format_answer(best_quoted)
    assert "Quoted from the references" in out.split("References:")[0]
    lines = [line for line in out.splitlines() if line.lstrip().startswith(("1.", "2."))]
    assert "[quoted]" in lines[0] and "[quoted]" not in lines[1]
    best_written = Answer("How is green tea made?", written.text, (ref,),
                          (ScoredAnswer(written, 0.6, 1.0, 1.6), ScoredAnswer(quoted, 0.5, 1.0, 1.5)), citations=(1,))
    assert "Quoted from the references" not in format_answer(best_written)


@pytest.mark.slow
def test_score_json_one_object_per_answer_and_one_load(env, tmp_path, monkeypatch):
    import webglm.scorer.reward as reward

    builds = []
    real_build = reward.RewardModel._build
    monkeypatch.setattr(reward.RewardModel, "_build", lambda self: builds.append(1) or real_build(self))
    monkeypatch.setattr(reward, "_SHARED", {})
    res = run("score", "How do I keep beer cold?", "Put it in the fridge.", "Ice bath with salt [1].", "--json")
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.strip().splitlines()]
    assert [r["index"] for r in rows] == [0, 1] and {r["rank"] for r in rows} == {1, 2}
    assert all(isinstance(r["reward"], float) for r in rows)
    rows_file = tmp_path / "rows.jsonl"
    rows_file.write_text("".join(json.dumps({"question": f"Question {i}?", "answers": ["yes", "no, because"]}) + "\n"
                                 for i in range(3)))
    res = run("score", "--file", str(rows_file), "--json")
    assert res.exit_code == 0, res.output
    assert len(res.stdout.strip().splitlines()) == 6
    assert len(builds) == 1  # one load for both commands and all three questions


def test_score_without_answers_says_how(env):
    res = run("score", "Only a question?")
    assert res.exit_code != 0 and "nothing to score" in res.output
