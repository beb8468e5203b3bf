"""Batch evaluation: datasets, metrics, resumable runs, record/replay cache and reports.

Typical use::

    from webglm.eval import run_eval, RunOptions
    report = run_eval("webglm_qa.jsonl", out_dir="runs/qa", pipeline_factory=lambda: WebGLM(),
                      options=RunOptions(concurrency=2))
    print(report.primary, report.score)
"""

from .datasets import FORMATS, Dataset, Example, Fields, load_dataset, question_id
from .report import MetricSummary, Report, score_row, summarize, write_report
from .results import ResultsFile
from .runner import AnswerFn, RunOptions, arun_eval, pipeline_answer_fn, run_eval
from .store import RecordingSearchEngine, RecordReplayStore, ReplaySearchEngine

__all__ = [
    "FORMATS",
    "AnswerFn",
    "Dataset",
    "Example",
    "Fields",
    "MetricSummary",
    "RecordReplayStore",
    "RecordingSearchEngine",
    "ReplaySearchEngine",
    "Report",
    "ResultsFile",
    "RunOptions",
    "arun_eval",
    "load_dataset",
    "pipeline_answer_fn",
    "question_id",
    "run_eval",
    "score_row",
    "summarize",
    "write_report",
]
