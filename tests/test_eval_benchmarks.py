"""Loaders and commands for the public benchmarks: NQ-open oracle and ExpertQA attribution."""

import gzip
import json

import pytest

from webglm.errors import EvalError
from webglm.eval import metrics as M
from webglm.eval.attribution import (attribution_command, balanced_accuracy, load_expertqa, roc_auc,
                                     roc_auc_interval, within_question_auc,
                                     strip_evidence_header)
from webglm.eval.datasets import detect_format, load_dataset
from webglm.eval.nq_oracle import corpus_passages
from webglm.eval.report import score_row

NQ_ROWS = [
    {"question": "who got the first nobel prize in physics", "answers": ["Wilhelm Conrad Röntgen"],
     "ctxs": [{"title": "Nobel Prize in Physics", "text": "The first Nobel Prize in Physics was awarded in 1901 to "
               "Wilhelm Conrad Röntgen, of Germany.", "hasanswer": True, "isgold": True}]},
    {"question": "what is the capital of france", "answers": ["Paris"],
     "ctxs": [{"title": "France", "text": "Paris is the capital and most populous city of France.",
               "isgold": True}]},
    {"question": "how many legs does a spider have", "answers": ["eight", "8"],
     "ctxs": [{"title": "Spider", "text": "Spiders are air-breathing arthropods that have eight legs.",
               "isgold": True}]},
]


def _nq(tmp_path, rows=NQ_ROWS, name="nq-open-oracle.dev.jsonl.gz"):
    path = tmp_path / name
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def test_nq_oracle_loader_reads_gzip_and_keeps_gold_passages(tmp_path):
    path = _nq(tmp_path)
    assert detect_format(path) == "nq-oracle"
    ds = load_dataset(path)
    assert (ds.fmt, ds.kind, len(ds)) == ("nq-oracle", "short", 3)
    ex = ds.examples[0]
    assert ex.answers == ("Wilhelm Conrad Röntgen",)
    assert ex.references[0].passage.title == "Nobel Prize in Physics"
    assert ex.meta["gold_passages"] == [ex.references[0].passage.id]
    assert len(corpus_passages(ds)) == 3


def test_nq_oracle_offset_and_limit_slice_the_file(tmp_path):
    ds = load_dataset(_nq(tmp_path), "nq-oracle", offset=1, limit=1)
    assert [ex.question for ex in ds.examples] == ["what is the capital of france"]


def test_nq_oracle_bad_row_names_file_and_line(tmp_path):
    path = _nq(tmp_path, NQ_ROWS[:1] + [{"question": "q", "answers": ["a"], "ctxs": []}])
    with pytest.raises(EvalError, match=r"line 2.*ctxs"):
        load_dataset(path, "nq-oracle")
    ds = load_dataset(path, "nq-oracle", skip_bad_rows=True)
    assert len(ds) == 1 and len(ds.skipped) == 1


def test_best_subspan_em_is_normalised_substring():
    assert M.best_subspan_em("It was Wilhelm Conrad Röntgen.", ["wilhelm conrad röntgen"]) == 1.0
    assert M.best_subspan_em("in 1995", ["5"]) == 1.0  # characters, unlike `contains`
    assert M.contains("in 1995", ["5"]) == 0.0
    assert M.best_subspan_em("no idea", ["Paris"]) == 0.0


def test_score_row_reports_hit_at_5_and_model_written():
    row = {"status": "ok", "answer": "Paris [1].", "gold": ["Paris"], "n_references": 2,
           "references": [{"id": "x"}, {"id": "gold"}], "gold_passages": ["gold"],
           "counters": {"extractive_fallback": 1.0}}
    out = score_row(row, "short")
    assert out["hit_at_5"] == 1.0 and out["model_written"] == 0.0 and out["best_subspan_em"] == 1.0
    row = dict(row, references=[{"id": f"r{i}"} for i in range(5)] + [{"id": "gold"}], counters={})
    out = score_row(row, "short")
    assert out["hit_at_5"] == 0.0 and out["model_written"] == 1.0


def _pipeline_config():
    from webglm.config import load_config
    from webglm.testing import HashEncoder

    return load_config(overrides={"generate.backend": "echo"}), HashEncoder()


def test_nq_oracle_corpus_and_given_passages_modes(tmp_path, monkeypatch):
    from webglm.eval.cli_support import eval_command

    monkeypatch.setenv("WEBGLM_CACHE", str(tmp_path / "cache"))
    config, encoder = _pipeline_config()
    path = _nq(tmp_path)
    report = eval_command(path, out_dir=tmp_path / "corpus", config=config, progress=False, limit=2,
                          pipeline_kwargs={"encoder": encoder})
    assert report.n_failed == 0, report.failures
    rows = [json.loads(line) for line in (tmp_path / "corpus" / "results.jsonl").read_text().splitlines()]
    # the corpus holds the passages of all three questions, not only the two evaluated
    assert len({r["id"] for row in rows for r in row["references"]}) == 3
    assert {"hit_at_5", "best_subspan_em", "contains", "webglm_accuracy", "model_written"} <= set(report.metrics)
    assert list((tmp_path / "cache" / "nq-oracle").iterdir())  # the index is cached
    given = eval_command(path, out_dir=tmp_path / "given", config=config, progress=False, given_passages=True,
                         pipeline_kwargs={"encoder": encoder})
    rows = [json.loads(line) for line in (tmp_path / "given" / "results.jsonl").read_text().splitlines()]
    assert given.n_failed == 0 and all(row["n_references"] == 1 for row in rows)


def test_given_passages_needs_nq_oracle(tmp_path):
    from webglm.eval.cli_support import eval_command

    path = tmp_path / "nq.jsonl"
    path.write_text(json.dumps({"question": "q?", "answer": ["a"]}) + "\n")
    with pytest.raises(EvalError, match="--given-passages"):
        eval_command(path, out_dir=tmp_path / "o", given_passages=True, progress=False)


# --- ExpertQA --------------------------------------------------------------------------------

def _claim(text, evidence, support):
    return {"claim_string": text, "evidence": evidence, "support": support}


EXPERT_ROWS = [
    {"question": "When was the Eiffel Tower finished?", "answers": {"sys_a": {"claims": [
        _claim("The Eiffel Tower was finished in 1889 [1].",
               ["[1] https://example.org/eiffel\n\nThe Eiffel Tower was finished in 1889 for the World's Fair."],
               "Complete"),
        _claim("It was designed by Gustave Eiffel himself [1].",
               ["[1] https://example.org/eiffel\n\nThe tower was built by the company of Gustave Eiffel; "
                "its design came from Koechlin and Nouguier."], "Partial"),
        _claim("It is painted every seven years [2].", ["[2] https://example.org/paint"], "Complete"),
        _claim("Nobody knows [3].", [], "Missing"),
    ]}}},
    {"question": "What do spiders eat?", "answers": {"sys_b": {"claims": [
        _claim("Spiders eat insects [1].", ["[1] https://example.org/s\n\nMost spiders eat insects."], "Complete"),
        _claim("Spiders also eat cheese and bread on weekends [1].",
               ["[1] https://example.org/s\n\nMost spiders eat insects."], "Incomplete"),
    ]}}},
]


def _expert(tmp_path, rows=EXPERT_ROWS):
    path = tmp_path / "expertqa_rand_test.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_expertqa_loader_strips_headers_and_keeps_labels(tmp_path):
    claims = load_expertqa(_expert(tmp_path))
    assert len(claims) == 6
    assert claims[0].evidence == ("The Eiffel Tower was finished in 1889 for the World's Fair.",)
    assert claims[2].evidence == ()  # a URL alone is no evidence text
    assert [c.supported for c in claims] == [True, False, True, None, True, False]
    assert strip_evidence_header("[12] www.example.org/x\nText") == "Text"
    assert strip_evidence_header("[1] Text with no URL") == "[1] Text with no URL"


def test_expertqa_bad_rows_are_named(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(EXPERT_ROWS[0]) + "\n{not json\n")
    with pytest.raises(EvalError, match=r"bad.jsonl:2"):
        load_expertqa(path)
    path.write_text(json.dumps({"question": "q", "answers": {"s": {"claims": [{"claim_string": 3}]}}}) + "\n")
    with pytest.raises(EvalError, match="claim_string"):
        load_expertqa(path)
    with pytest.raises(EvalError, match="no such file"):
        load_expertqa(tmp_path / "missing.jsonl")


def test_roc_auc_matches_sklearn_with_ties():
    from sklearn import metrics as sk  # scikit-learn is a hard dependency
    labels = [True, False, True, True, False, False, True, False]
    scores = [0.9, 0.1, 0.5, 0.5, 0.5, 0.3, 0.2, 0.2]
    assert roc_auc(labels, scores) == pytest.approx(sk.roc_auc_score(labels, scores))
    assert balanced_accuracy([True, True, False, False], [True, False, False, False]) == 0.75


def test_auc_interval_is_hanley_mcneil():
    # the shipped check on ExpertQA test: 0.634 over 562 supported and 231 unsupported claims
    lo, hi = roc_auc_interval(0.634, 562, 231)
    assert (round(lo, 3), round(hi, 3)) == (0.593, 0.675)
    lo_small, hi_small = roc_auc_interval(0.634, 20, 10)
    assert lo_small < lo and hi_small > hi  # fewer claims, a wider interval
    assert roc_auc_interval(0.99, 5, 5)[1] == 1.0


def test_within_question_auc_ignores_how_strict_each_expert_was():
    from webglm.eval.attribution import Claim

    def claim(q, ok):
        return Claim(q, q, "s", "c", ("e",), "Complete" if ok else "Partial")

    # question a: lenient expert, everything scores high; b: strict expert, everything low.
    # Within each question the supported claim scores higher, so ranking is perfect there,
    # while the pooled AUC is dragged down by the gap between experts.
    claims = [claim("a", True), claim("a", False), claim("a", True),
              claim("b", True), claim("b", False), claim("b", False), claim("c", True)]
    scores = [0.9, 0.8, 0.95, 0.3, 0.1, 0.2, 0.5]
    assert within_question_auc(claims, scores) == 1.0
    assert roc_auc([bool(c.supported) for c in claims], scores) < 0.9


def test_eval_attribution_rouge1_reports_auc_and_counts(tmp_path):
    from webglm.config import load_config

    out = attribution_command([_expert(tmp_path)], config=load_config(overrides={"citation.method": "rouge1"}))
    assert (out["judged"], out["supported"], out["unsupported"]) == (4, 2, 2)
    assert out["labels"] == {"Complete": 3, "Incomplete": 1, "Missing": 1, "Partial": 1}
    assert out["claims_without_evidence_text"] == 2
    assert 0.0 <= out["roc_auc"] <= 1.0 and out["method"] == "rouge1"
    lo, hi = out["roc_auc_ci95"]
    assert lo <= out["roc_auc"] <= hi and out["questions_with_both_labels"] >= 1
    assert out["threshold"] == pytest.approx(0.45)  # 0.75 less the bonus for a cited reference


def test_eval_attribution_cli_prints_json(tmp_path):
    from typer.testing import CliRunner

    from webglm.cli import app

    res = CliRunner().invoke(app, ["eval-attribution", str(_expert(tmp_path)), "--set", "citation.method=rouge1"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["judged"] == 4
    res = CliRunner().invoke(app, ["eval-attribution", str(tmp_path / "nope.jsonl")])
    assert res.exit_code == 2 and "no such file" in res.output
