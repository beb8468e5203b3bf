"""`eval_command`, the function behind `webglm eval`: end to end, offline."""

import json

import pytest

from webglm.errors import EvalError
from webglm.eval.cli_support import eval_command, open_store, summary_line
from webglm.eval.stackexchange import export_corpus

_POSTS = """<?xml version="1.0" encoding="utf-8"?>
<posts>
  <row Id="1" PostTypeId="1" AcceptedAnswerId="2" Score="3" Title="How long should a lager ferment?" Body="" />
  <row Id="2" PostTypeId="2" ParentId="1" Score="4" Body="&lt;p&gt;A lager ferments cold for about two weeks, then lagers for a month or more at near freezing temperature.&lt;/p&gt;" />
  <row Id="3" PostTypeId="1" AcceptedAnswerId="4" Score="2" Title="What temperature do lagers ferment at?" Body="" />
  <row Id="4" PostTypeId="2" ParentId="3" Score="5" Body="&lt;p&gt;Lager yeast ferments best between eight and thirteen degrees Celsius, which is why lagers ferment cold and slowly.&lt;/p&gt;" />
  <row Id="5" PostTypeId="1" AcceptedAnswerId="6" Score="2" Title="Why do stouts taste roasted?" Body="" />
  <row Id="6" PostTypeId="2" ParentId="5" Score="5" Body="&lt;p&gt;Stouts use roasted barley and dark malts, which give coffee and chocolate flavours to the beer.&lt;/p&gt;" />
</posts>
"""


def _qa(tmp_path):
    rows = [{"id": "a", "question": "Why do cats purr?", "answer": "Cats purr when they are content [1].",
             "references": ["Cats purr when they are content. Purring is a low rumble.", "Dogs bark."]}]
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_extractive_answerer_and_summary(tmp_path):
    report = eval_command(_qa(tmp_path), out_dir=tmp_path / "out", answerer="extractive", progress=False)
    assert report.primary == "rouge_l" and report.score > 0.5
    assert summary_line(report).startswith("qa: rouge_l = ")
    assert (tmp_path / "out" / "report.md").exists()


def test_option_errors(tmp_path):
    with pytest.raises(EvalError, match="exclude each other"):
        open_store(tmp_path / "c.sqlite", record=True, replay=True)
    with pytest.raises(EvalError, match="--cache"):
        open_store(None, record=True, replay=False)
    assert open_store(None, record=False, replay=False) is None
    with pytest.raises(EvalError, match="unknown answerer"):
        eval_command(_qa(tmp_path), out_dir=tmp_path / "o", answerer="oracle")


def _pipeline_kwargs():
    from webglm.config import load_config
    from webglm.testing import HashEncoder

    return load_config(overrides={"generate.backend": "echo"}), {"encoder": HashEncoder()}


def test_webglm_qa_through_the_pipeline(tmp_path, monkeypatch):
    config, kwargs = _pipeline_kwargs()
    monkeypatch.setenv("WEBGLM_CACHE", str(tmp_path / "cache"))
    report = eval_command(_qa(tmp_path), out_dir=tmp_path / "out", config=config, pipeline_kwargs=kwargs,
                          progress=False)
    assert report.n_examples == 1 and report.n_failed == 0, report.failures
    row = json.loads((tmp_path / "out" / "results.jsonl").read_text())
    assert row["n_references"] == 2 and row["answer"]
    assert report.metrics["invalid_citation"].mean == 0.0


def test_stackexchange_in_corpus_mode(tmp_path, monkeypatch):
    config, kwargs = _pipeline_kwargs()
    monkeypatch.setenv("WEBGLM_CACHE", str(tmp_path / "cache"))
    posts = tmp_path / "beer.example.com_Posts.xml"
    posts.write_text(_POSTS, encoding="utf-8")
    assert export_corpus(posts, tmp_path / "corpus", exclude=["beer.example.com:1"]) == 2
    report = eval_command(posts, out_dir=tmp_path / "out", corpus=tmp_path / "corpus", limit=1,
                          config=config, pipeline_kwargs=kwargs, progress=False)
    assert (report.fmt, report.n_examples, report.n_failed) == ("stackexchange", 1, 0), report.failures
    row = json.loads((tmp_path / "out" / "results.jsonl").read_text())
    assert row["id"] == "beer.example.com:1"
    assert all(r["url"].startswith("file:") for r in row["references"])
    assert "CC BY-SA" in (tmp_path / "out" / "report.md").read_text()


def test_export_corpus_command_holds_out_the_evaluated_threads(tmp_path):
    from typer.testing import CliRunner

    from webglm.cli import app

    posts = tmp_path / "beer.example.com_Posts.xml"
    posts.write_text(_POSTS, encoding="utf-8")
    result = CliRunner().invoke(app, ["export-corpus", str(posts), str(tmp_path / "corpus"), "--exclude-first", "1"])
    assert result.exit_code == 0, result.output
    assert "wrote 2 threads" in result.output and "1 held out" in result.output
    assert sorted(p.name for p in (tmp_path / "corpus").iterdir()) == ["3.md", "5.md"]
    as_json = CliRunner().invoke(app, ["export-corpus", str(posts), str(tmp_path / "c3"), "--exclude-first", "1",
                                       "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == {"out": str(tmp_path / "c3"), "written": 2, "held_out": 1}
    missing = CliRunner().invoke(app, ["export-corpus", str(tmp_path / "nope.xml"), str(tmp_path / "c2")])
    assert missing.exit_code == 2 and "no such dump" in missing.output
