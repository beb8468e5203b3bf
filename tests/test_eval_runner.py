import asyncio
import io
import json

import pytest

from webglm.errors import EvalError, GenerationError
from webglm.eval.baselines import ExtractiveAnswerer
from webglm.eval.datasets import Dataset, Example, load_dataset, make_references
from webglm.eval.report import load_report, score_row
from webglm.eval.results import ResultsFile
from webglm.eval.runner import Progress, RunOptions, pipeline_answer_fn, run_eval
from webglm.types import Answer, Failure, Trace

OPTS = RunOptions(progress=False, resamples=100)


def _qa_file(tmp_path, n=6):
    rows = [{"id": f"q{i}", "question": f"Where does species{i} live?",
             "answer": f"Species{i} lives in region {i} [1].",
             "references": [f"Species{i} lives in region {i}. It eats leaves.", "Weather is mild."]}
            for i in range(n)]
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _rows(out):
    return [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]


class Flaky:
    """Deterministic answerer that fails the listed ids until ``healed``."""

    def __init__(self, fail_ids=()):
        self.fail_ids, self.healed, self.calls = set(fail_ids), False, []
        self.base = ExtractiveAnswerer()

    async def __call__(self, ex):
        self.calls.append(ex.id)
        if ex.id in self.fail_ids and not self.healed:
            raise GenerationError("backend down")
        return await self.base(ex)


def test_run_scores_extractive_answers_and_writes_reports(tmp_path):
    report = run_eval(_qa_file(tmp_path), out_dir=tmp_path / "out", answer_fn=ExtractiveAnswerer(1), options=OPTS)
    assert (report.fmt, report.primary, report.n_examples, report.n_failed) == ("webglm-qa", "rouge_l", 6, 0)
    # answer "Species0 lives in region 0. [1]" vs gold "Species0 lives in region 0 [1]." -> identical tokens
    # except the citation digit order; ROUGE-L tokens: species0 lives in region 0 1 on both sides
    assert report.metrics["rouge_l"].mean == pytest.approx(1.0)
    assert report.metrics["invalid_citation"].mean == 0.0
    assert report.metrics["gold_citation_f1"].mean == 1.0
    data = load_report(tmp_path / "out" / "report.json")
    assert data["primary"] == "rouge_l" and data["score"] == pytest.approx(1.0)
    assert data["metrics"]["rouge_l"]["ci_low"] <= 1.0 and data["cost"]["tokens_out_total"] > 0
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| rouge_l (primary) | 1.0000 |" in md and "95% CI" in md


def test_resume_skips_done_and_retry_failed_replaces_rows(tmp_path):
    data, out = _qa_file(tmp_path), tmp_path / "out"
    fn = Flaky({"q1", "q4"})
    first = run_eval(data, out_dir=out, answer_fn=fn, options=OPTS)
    assert first.n_failed == 2 and first.failures == {"example:GenerationError": 2}
    failed = {r["id"]: r for r in _rows(out) if r["status"] == "failed"}
    assert failed["q1"]["error"] == {"type": "GenerationError", "stage": "generate", "message": "backend down"}

    fn.calls.clear()
    again = run_eval(data, out_dir=out, answer_fn=fn, options=OPTS)  # resume: nothing to do
    assert fn.calls == [] and again.n_failed == 2 and again.run["resumed_rows"] == 6

    fn.healed = True
    retried = run_eval(data, out_dir=out, answer_fn=fn, options=RunOptions(progress=False, retry_failed=True))
    assert sorted(fn.calls) == ["q1", "q4"] and retried.n_failed == 0
    rows = _rows(out)
    assert sorted(r["id"] for r in rows) == [f"q{i}" for i in range(6)]
    assert {r["id"]: r["attempt"] for r in rows}["q4"] == 2


def test_torn_last_line_is_cut_and_example_rerun(tmp_path):
    data, out = _qa_file(tmp_path), tmp_path / "out"
    run_eval(data, out_dir=out, answer_fn=ExtractiveAnswerer(), options=OPTS)
    lines = (out / "results.jsonl").read_bytes().splitlines(keepends=True)
    torn = b"".join(lines[:3]) + lines[3][: len(lines[3]) // 2]  # crash mid-write of the 4th row
    (out / "results.jsonl").write_bytes(torn)
    fn = Flaky()
    run_eval(data, out_dir=out, answer_fn=fn, options=OPTS)
    rows = _rows(out)
    assert len(rows) == 6 and len({r["id"] for r in rows}) == 6
    assert sorted(fn.calls) == sorted({f"q{i}" for i in range(6)} - {r["id"] for r in map(json.loads, lines[:3])})


def test_results_file_lock_and_duplicate_compaction(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"id": "a", "n": 1}\n{"id": "b"}\n{"id": "a", "n": 2}\n')
    with ResultsFile(path) as rf:
        with pytest.raises(EvalError, match="another evaluation run"):
            ResultsFile(path).open()
        rows = rf.read()
        assert rows["a"]["n"] == 2 and rf.duplicates == 1
        rf.rewrite(rows.values())
        rf.append({"id": "c"})
    assert [json.loads(x)["id"] for x in path.read_text().splitlines()] == ["b", "a", "c"]


def test_concurrency_is_bounded_and_timeouts_become_rows(tmp_path):
    live, peak = 0, 0

    async def fn(ex):
        nonlocal live, peak
        live += 1
        peak = max(peak, live)
        await asyncio.sleep(0.5 if ex.id == "q2" else 0.01)
        live -= 1
        return Answer(ex.question, "x")

    report = run_eval(_qa_file(tmp_path, 8), out_dir=tmp_path / "out", answer_fn=fn,
                      options=RunOptions(concurrency=3, timeout_s=0.2, progress=False))
    assert peak == 3
    assert report.failures == {"example:timeout": 1}


def test_output_folder_refuses_another_dataset(tmp_path):
    out = tmp_path / "out"
    run_eval(_qa_file(tmp_path), out_dir=out, answer_fn=ExtractiveAnswerer(), options=OPTS)
    other = tmp_path / "other.txt"
    other.write_text("A question?\n")
    with pytest.raises(EvalError, match="new output folder"):
        run_eval(other, out_dir=out, answer_fn=ExtractiveAnswerer(), options=OPTS)


class ReferencePipeline:
    """Pipeline-shaped object: searches nothing, answers from given references."""

    def __init__(self):
        self.closed, self.searched = False, []
        self.base = ExtractiveAnswerer()

    async def aanswer(self, question):
        self.searched.append(question)
        return Answer(question, "", abstained=True, trace=Trace(timings={"search": 0.5},
                      failures=(Failure("fetch", "timeout", "slow", "http://x"),),
                      counters={"pages_fetched": 3, "pages_failed": 1}))

    async def aanswer_with_references(self, question, references):
        return await self.base(Example("x", question, (), tuple(references)))

    async def aclose(self):
        self.closed = True


def test_pipeline_factory_uses_references_when_given(tmp_path):
    pipe = ReferencePipeline()
    report = run_eval(_qa_file(tmp_path), out_dir=tmp_path / "a", pipeline_factory=lambda: pipe, options=OPTS)
    assert pipe.closed and pipe.searched == [] and report.metrics["rouge_l"].mean == pytest.approx(1.0)
    ds = load_dataset(_qa_file(tmp_path))
    never = run_eval(ds, out_dir=tmp_path / "b", answer_fn=pipeline_answer_fn(pipe, use_references="never"),
                     options=OPTS, limit=2)
    assert len(pipe.searched) == 2 and never.metrics["abstained"].mean == 1.0
    assert never.cost["pages_failed_total"] == 2.0 and never.failures == {"fetch:timeout": 2}
    assert never.latency["search"]["p50"] == 0.5
    with pytest.raises(EvalError, match="exactly one"):
        run_eval(ds, out_dir=tmp_path / "c", options=OPTS)


def test_score_row_conventions():
    ok = {"status": "ok", "answer": "Paris is big [1] [4]", "gold": ["Paris"], "n_references": 2,
          "counters": {"citation_precision": 0.5}}
    s = score_row(ok, "short")
    assert s["webglm_accuracy"] == 1.0 and s["invalid_citation"] == 1.0 and s["citation_precision"] == 0.5
    failed = score_row({"status": "failed", "answer": "", "gold": ["Paris"]}, "short")
    assert failed == {"failed": 1.0, "webglm_accuracy": 0.0, "contains": 0.0, "best_subspan_em": 0.0, "exact_match": 0.0, "token_f1": 0.0}


def test_progress_line_has_eta():
    buf = io.StringIO()
    p = Progress(4, stream=buf, every=0.0)
    p.update(True)
    p.update(False)
    assert "eval 2/4 (failed 1)" in buf.getvalue() and "ETA" in buf.getvalue()


def test_dataset_object_and_limit(tmp_path):
    refs = make_references(["Rome is in Italy."], "r")
    ds = Dataset("mini", "jsonl", "short", tuple(Example(f"i{i}", "Where is Rome?", ("Italy",), refs) for i in range(5)))
    report = run_eval(ds, out_dir=tmp_path / "o", answer_fn=ExtractiveAnswerer(), options=OPTS, limit=3)
    assert report.n_examples == 3 and report.metrics["webglm_accuracy"].mean == 1.0
