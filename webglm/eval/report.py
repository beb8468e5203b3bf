"""Per-example scoring of result rows and the summary report (JSON + Markdown).

Scores are recomputed from the stored rows, never carried over from a previous process, so a
resumed run reports exactly what a single uninterrupted run would.

Conventions: a *failed* example (the pipeline raised or timed out) scores 0 on the answer
metrics, so failures cannot inflate accuracy, and is left out of the citation and abstention
metrics (it produced no answer to judge). An abstention scores as an empty answer (0 on the
answer metrics) and is left out of the citation metrics. Latency percentiles use successful
examples.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..types import to_dict
from . import metrics as M

PRIMARY = {"short": "webglm_accuracy", "long": "rouge_l", "none": "answered"}
_ANSWER_METRICS = {
    "short": (("webglm_accuracy", M.webglm_match), ("contains", M.contains), ("best_subspan_em", M.best_subspan_em),
              ("exact_match", M.exact_match), ("token_f1", M.token_f1)),
    "long": (("rouge_l", M.rouge_l), ("token_f1", M.token_f1)),
    "none": (),
}
COUNTERS = ("tokens_in", "tokens_out", "pages_fetched", "pages_failed")


@dataclass(frozen=True, slots=True)
class MetricSummary:
    """Mean of a per-example metric over ``n`` examples with a bootstrap interval."""

    mean: float
    ci_low: float
    ci_high: float
    n: int


@dataclass(frozen=True, slots=True)
class Report:
    """Summary of an evaluation run. ``metrics[primary]`` is the headline number."""

    dataset: str
    fmt: str
    kind: str
    primary: str
    n_examples: int
    n_ok: int
    n_failed: int
    metrics: Mapping[str, MetricSummary] = field(default_factory=dict)
    latency: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    cost: Mapping[str, float] = field(default_factory=dict)
    failures: Mapping[str, int] = field(default_factory=dict)
    skipped_rows: int = 0
    run: Mapping[str, Any] = field(default_factory=dict)
    attribution: str = ""

    @property
    def score(self) -> float:
        """The primary metric's mean."""
        m = self.metrics.get(self.primary)
        return m.mean if m else float("nan")

    def as_dict(self) -> dict[str, float]:
        """Evaluator-style flat view: metric name -> mean, with ``primary`` first."""
        out = {self.primary: self.score}
        out.update({k: v.mean for k, v in self.metrics.items() if k != self.primary})
        return out


def score_row(row: Mapping[str, Any], kind: str) -> dict[str, float]:
    """Per-example metrics of one result row (see module docstring for the conventions)."""
    ok = row.get("status") == "ok"
    # An abstention is no answer: its canned text must not match a gold answer by accident.
    pred = "" if row.get("abstained") else row.get("answer") or ""
    golds = row.get("gold") or []
    out: dict[str, float] = {"failed": 0.0 if ok else 1.0}
    if golds:
        for name, fn in _ANSWER_METRICS.get(kind, ()):
            out[name] = fn(pred, golds) if ok else 0.0
    if not ok:
        return out
    if row.get("gold_sources"):
        out["source_hit"] = M.source_hit(row.get("references") or [], row["gold_sources"])
    if row.get("answer") and row.get("question"):  # what the reader sees, abstention notices included
        out["in_question_language"] = M.same_language(row["answer"], row["question"])
    abstained = bool(row.get("abstained"))
    if row.get("gold_passages"):  # retrieval is judged whether or not the answer abstained
        top = [r.get("id") for r in (row.get("references") or [])[:5]]
        out["hit_at_5"] = 1.0 if set(top) & set(row["gold_passages"]) else 0.0
    out["abstained"] = float(abstained)
    out["answered"] = 1.0 - out["abstained"]
    if not abstained:
        n_refs = int(row.get("n_references", 0))
        out["invalid_citation"] = 1.0 if M.invalid_citations(pred, n_refs) else 0.0
        out["cited"] = 1.0 if M.citation_numbers(pred) else 0.0
        counters = row.get("counters") or {}
        for key in ("citation_precision", "citation_recall"):
            if isinstance(counters.get(key), (int, float)) and not math.isnan(counters[key]):
                out[key] = float(counters[key])
        # answers the model wrote, as opposed to quotes of the extractive fallback
        out["model_written"] = 0.0 if counters.get("extractive_fallback") else 1.0
        if row.get("gold_citations") is not None:
            out["gold_citation_f1"] = M.set_f1(M.citation_numbers(pred), row["gold_citations"])
    return out


def _latency(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    stages: dict[str, list[float]] = {}
    for row in rows:
        if row.get("status") != "ok":
            continue
        for stage, secs in (row.get("timings") or {}).items():
            stages.setdefault(stage, []).append(float(secs))
        stages.setdefault("example", []).append(float(row.get("elapsed_s", 0.0)))
    return {s: {"p50": M.percentile(v, 50), "p95": M.percentile(v, 95), "n": float(len(v))}
            for s, v in sorted(stages.items())}


def _cost(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    ok = [r for r in rows if r.get("status") == "ok"]
    for key in COUNTERS:
        values = [float(r["counters"][key]) for r in ok if key in (r.get("counters") or {})]
        if values:
            out[f"{key}_total"] = sum(values)
            out[f"{key}_mean"] = M.mean(values)
    return out


def _failures(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Counts of example-level errors (``example:<type>``) and per-item trace failures."""
    counts: Counter[str] = Counter()
    for row in rows:
        if row.get("status") != "ok":
            counts[f"example:{(row.get('error') or {}).get('type', 'error')}"] += 1
        for f in row.get("trace_failures") or ():
            counts[f"{f.get('stage', '?')}:{f.get('kind', '?')}"] += 1
    return dict(sorted(counts.items()))


def summarize(rows: Sequence[Mapping[str, Any]], *, dataset: str, fmt: str, kind: str,
              resamples: int = 1000, seed: int = 0, skipped_rows: int = 0,
              run: Mapping[str, Any] | None = None, attribution: str = "") -> Report:
    """Aggregate result rows into a :class:`Report` with bootstrap intervals."""
    per_metric: dict[str, list[float]] = {}
    for row in rows:
        for name, value in score_row(row, kind).items():
            per_metric.setdefault(name, []).append(value)
    summaries = {}
    for name, values in sorted(per_metric.items()):
        lo, hi = M.bootstrap_ci(values, resamples=resamples, seed=seed)
        summaries[name] = MetricSummary(M.mean(values), lo, hi, len(values))
    n_failed = sum(1 for r in rows if r.get("status") != "ok")
    return Report(dataset=dataset, fmt=fmt, kind=kind, primary=PRIMARY.get(kind, "answered"),
                  n_examples=len(rows), n_ok=len(rows) - n_failed, n_failed=n_failed, metrics=summaries,
                  latency=_latency(rows), cost=_cost(rows), failures=_failures(rows),
                  skipped_rows=skipped_rows, run=dict(run or {}), attribution=attribution)


# --- writing ----------------------------------------------------------------------


def _fmt(x: float, digits: int = 4) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def render_markdown(report: Report) -> str:
    """The report as a Markdown page (metrics table with 95% intervals, latency, cost)."""
    lines = [f"# Evaluation: {report.dataset}", "",
             (f"- format: `{report.fmt}` ({report.kind} answers); examples: {report.n_examples} "
             f"({report.n_ok} ok, {report.n_failed} failed); malformed rows skipped: {report.skipped_rows}"),
             f"- primary metric: **{report.primary} = {_fmt(report.score)}**"]
    for key, value in report.run.items():
        lines.append(f"- {key}: {value}")
    if report.attribution:
        lines.append(f"- data: {report.attribution}")
    lines += ["", "| metric | mean | 95% CI | n |", "|---|---:|---:|---:|"]
    names = sorted(report.metrics, key=lambda k: k != report.primary)  # primary first
    for name in names:
        m = report.metrics[name]
        mark = " (primary)" if name == report.primary else ""
        lines.append(f"| {name}{mark} | {_fmt(m.mean)} | [{_fmt(m.ci_low)}, {_fmt(m.ci_high)}] | {m.n} |")
    if report.latency:
        lines += ["", "| stage | p50 s | p95 s | n |", "|---|---:|---:|---:|"]
        lines += [f"| {s} | {_fmt(v['p50'], 3)} | {_fmt(v['p95'], 3)} | {int(v['n'])} |"
                  for s, v in report.latency.items()]
    if report.cost:
        lines += ["", "| cost | value |", "|---|---:|"] + [f"| {k} | {_fmt(v, 1)} |" for k, v in report.cost.items()]
    if report.failures:
        lines += ["", "| failure | count |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in report.failures.items()]
    return "\n".join(lines) + "\n"


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    return obj


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def report_data(report: Report) -> dict[str, Any]:
    """The report as strict-JSON data (NaN becomes null), with its headline ``score``."""
    data = _nan_to_none(to_dict(report))
    data["score"] = _nan_to_none(report.score)
    return data


def write_report(report: Report, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``report.json`` (strict JSON: NaN becomes null) and ``report.md`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = report_data(report)
    json_path, md_path = out / "report.json", out / "report.md"
    _atomic_write(json_path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    _atomic_write(md_path, render_markdown(report))
    return json_path, md_path


def load_report(path: str | Path) -> dict[str, Any]:
    """Read a ``report.json`` back as plain data."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
