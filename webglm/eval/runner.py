"""Resumable, concurrent batch evaluation.

``run_eval`` answers every example of a dataset with an :data:`AnswerFn` (or a WebGLM
pipeline), appends one crash-safe row per example id to ``<out_dir>/results.jsonl``, and writes
``report.json`` / ``report.md``. Rerunning with the same ``out_dir`` resumes: examples that
already have a row are not answered again; ``retry_failed=True`` answers failed ones again and
replaces their rows. See :mod:`webglm.eval.results` for the durability rules.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ..errors import EvalError, WebGLMError
from ..types import Answer
from .datasets import Dataset, Example, Fields, load_dataset
from .report import Report, summarize, write_report
from .results import ResultsFile

AnswerFn = Callable[[Example], Awaitable[Answer]]
ROW_VERSION = 1


# --- rows ------------------------------------------------------------------------


def _references(answer: Answer) -> list[dict[str, Any]]:
    return [{"index": r.index, "id": r.passage.id, "url": r.passage.url, "title": r.passage.title,
             "text": r.passage.text, "score": r.score} for r in answer.references]


def answer_row(example: Example, answer: Answer, *, elapsed: float, attempt: int) -> dict[str, Any]:
    """The result row of an answered example (plain JSON data)."""
    trace = answer.trace
    row = {"v": ROW_VERSION, "id": example.id, "status": "ok", "question": example.question,
           "gold": list(example.answers), "answer": answer.text, "abstained": bool(answer.abstained),
           "citations": list(answer.citations), "n_references": len(answer.references),
           "references": _references(answer), "timings": {k: float(v) for k, v in trace.timings.items()},
           "counters": {k: float(v) for k, v in trace.counters.items()},
           "trace_failures": [{"stage": f.stage, "kind": f.kind, "url": f.url} for f in trace.failures],
           "models": dict(trace.models), "elapsed_s": round(elapsed, 6), "attempt": attempt,
           "finished_at": time.time(), "error": None}
    for key in ("gold_citations", "gold_passages", "gold_sources"):
        if key in example.meta:
            row[key] = list(example.meta[key])
    return row


def failure_row(example: Example, exc: BaseException, *, elapsed: float, attempt: int) -> dict[str, Any]:
    """The result row of an example whose answer raised or timed out."""
    kind = "timeout" if isinstance(exc, asyncio.TimeoutError) else type(exc).__name__
    stage = getattr(exc, "stage", "") if isinstance(exc, WebGLMError) else ""
    return {"v": ROW_VERSION, "id": example.id, "status": "failed", "question": example.question,
            "gold": list(example.answers), "answer": "", "elapsed_s": round(elapsed, 6), "attempt": attempt,
            "finished_at": time.time(), "error": {"type": kind, "stage": stage, "message": str(exc)[:2000]}}


# --- progress ----------------------------------------------------------------------


class Progress:
    """A progress line with rate and ETA on stderr (redrawn in place on a terminal)."""

    def __init__(self, total: int, *, stream: TextIO | None = None, enabled: bool = True, every: float = 2.0):
        self.total, self.done, self.failed = total, 0, 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.every = every
        self.start = self._last = time.monotonic()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = self.total - self.done
        eta = _duration(left / rate) if rate > 0 else "?"
        return f"eval {self.done}/{self.total} (failed {self.failed}) {rate:.2f}/s ETA {eta}"

    def update(self, ok: bool) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        now = time.monotonic()
        if self.enabled and (self.tty or now - self._last >= self.every or self.done == self.total):
            self._last = now
            self.stream.write(("\r" if self.tty else "") + self.line() + ("" if self.tty else "\n"))
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


# --- pipeline adapter -----------------------------------------------------------------


def pipeline_answer_fn(pipeline: Any, *, use_references: str = "auto") -> AnswerFn:
    """Adapt a :class:`webglm.WebGLM` to an :data:`AnswerFn`.

    ``use_references``: ``auto`` answers from the example's given references when it has
    some (WebGLM-QA: generator only, no search) and searches otherwise; ``always`` / ``never``
    force one path (``always`` fails examples without references).
    """
    if use_references not in ("auto", "always", "never"):
        raise EvalError(f"use_references must be auto, always or never, not {use_references!r}")

    async def answer(example: Example) -> Answer:
        given = use_references == "always" or (use_references == "auto" and example.references)
        if given:
            if not example.references:
                raise EvalError(f"example {example.id} has no references to answer from")
            return await pipeline.aanswer_with_references(example.question, example.references)
        return await pipeline.aanswer(example.question)

    return answer


# --- the run ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How a run proceeds. ``timeout_s`` bounds one example (0 = none)."""

    concurrency: int = 1
    retry_failed: bool = False
    timeout_s: float = 0.0
    progress: bool = True
    resamples: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise EvalError("concurrency must be >= 1")
        if self.timeout_s < 0:
            raise EvalError("timeout_s must be >= 0")


def _run_folder(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise EvalError(f"--out {out} is a file, not a folder", url=str(out), hint="choose a new folder for the run")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvalError(f"cannot create the run folder {out}: {exc.strerror or exc}", url=str(out)) from None
    return out


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        old = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise EvalError(f"{path} is corrupt ({exc})"[:300], url=str(path),
                        hint="delete run.json to adopt the folder's results, or use a new --out folder") from None
    if not isinstance(old, dict):
        raise EvalError(f"{path} is corrupt (not a JSON object)", url=str(path),
                        hint="delete run.json to adopt the folder's results, or use a new --out folder")
    return old


def _check_manifest(out: Path, dataset: Dataset) -> dict[str, Any]:
    """Write ``run.json`` on the first run; refuse to mix a different dataset into ``out``."""
    path = out / "run.json"
    manifest = {"dataset": dataset.name, "fmt": dataset.fmt, "kind": dataset.kind, "source": dataset.source}
    if path.exists():
        old = _read_manifest(path)
        if (old.get("dataset"), old.get("fmt")) != (dataset.name, dataset.fmt):
            raise EvalError(f"{out} holds a run of {old.get('dataset')!r} ({old.get('fmt')}), "
                            f"not {dataset.name!r} ({dataset.fmt})", url=str(out),
                            hint="use a new output folder for a different dataset")
        return old
    manifest["created_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    from .report import _atomic_write

    _atomic_write(path, json.dumps(manifest, indent=2) + "\n")
    return manifest


async def _answer_one(fn: AnswerFn, ex: Example, attempt: int, timeout_s: float) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        coro = fn(ex)
        answer = await (asyncio.wait_for(coro, timeout_s) if timeout_s else coro)
        return answer_row(ex, answer, elapsed=time.perf_counter() - start, attempt=attempt)
    except Exception as exc:  # noqa: BLE001 - any per-example error becomes a failed row
        return failure_row(ex, exc, elapsed=time.perf_counter() - start, attempt=attempt)


async def _run_pending(fn: AnswerFn, pending: list[Example], attempts: Mapping[str, int],
                       results: ResultsFile, opts: RunOptions) -> None:
    """Answer ``pending`` with ``opts.concurrency`` workers; each row is durable before the next."""
    it: Iterator[Example] = iter(pending)
    progress = Progress(len(pending), enabled=opts.progress)

    async def worker() -> None:
        for ex in it:  # workers share one iterator: each example is taken once
            row = await _answer_one(fn, ex, attempts.get(ex.id, 0) + 1, opts.timeout_s)
            results.append(row)  # synchronous: appends never interleave
            progress.update(row["status"] == "ok")

    try:
        await asyncio.gather(*(worker() for _ in range(min(opts.concurrency, max(len(pending), 1)))))
    finally:
        progress.close()


async def arun_eval(dataset: Dataset, out_dir: str | Path, answer_fn: AnswerFn,
                    options: RunOptions | None = None) -> Report:
    """Evaluate ``dataset`` into ``out_dir`` (resuming what is there) and write the report."""
    opts = options or RunOptions()
    out = _run_folder(Path(out_dir))
    manifest = _check_manifest(out, dataset)
    with ResultsFile(out / "results.jsonl") as results:
        rows = results.read()
        ids = {ex.id for ex in dataset.examples}
        retry = {i for i, r in rows.items() if i in ids and r.get("status") != "ok"} if opts.retry_failed else set()
        if retry or results.duplicates:
            results.rewrite(r for i, r in rows.items() if i not in retry)
        attempts = {i: int(r.get("attempt", 1)) for i, r in rows.items()}
        pending = [ex for ex in dataset.examples if ex.id not in rows or ex.id in retry]
        await _run_pending(answer_fn, pending, attempts, results, opts)
        rows = results.read()
    ordered = [rows[ex.id] for ex in dataset.examples if ex.id in rows]
    attribution = "Stack Exchange content, CC BY-SA" if dataset.fmt == "stackexchange" else ""
    report = summarize(ordered, dataset=dataset.name, fmt=dataset.fmt, kind=dataset.kind,
                       resamples=opts.resamples, seed=opts.seed, skipped_rows=len(dataset.skipped),
                       run={"out_dir": str(out), "created_at": manifest.get("created_at", ""),
                            "resumed_rows": len(dataset.examples) - len(pending)},
                       attribution=attribution)
    write_report(report, out)
    return report


def run_eval(dataset: str | Path | Dataset, *, out_dir: str | Path, answer_fn: AnswerFn | None = None,
             pipeline_factory: Callable[[], Any] | None = None, fmt: str = "auto",
             fields: Fields | None = None, limit: int | None = None, skip_bad_rows: bool = False,
             use_references: str = "auto", options: RunOptions | None = None,
             **dataset_options: Any) -> Report:
    """Load a dataset (unless given), answer it and write ``report.json`` / ``report.md``.

    Give either ``answer_fn`` or ``pipeline_factory`` (called once; its ``aclose`` is awaited
    at the end). ``dataset_options`` go to the loader (e.g. Stack Exchange ``top_n``).
    """
    if (answer_fn is None) == (pipeline_factory is None):
        raise EvalError("give exactly one of answer_fn or pipeline_factory")
    ds = dataset if isinstance(dataset, Dataset) else load_dataset(
        dataset, fmt, fields=fields, skip_bad_rows=skip_bad_rows, limit=limit, **dataset_options)
    if isinstance(dataset, Dataset) and limit is not None:
        ds = Dataset(ds.name, ds.fmt, ds.kind, ds.examples[:limit], ds.skipped, ds.source)

    async def main() -> Report:
        # Pipeline stages run in worker threads (asyncio.to_thread); the default pool has
        # min(32, cores + 4) threads, which would cap --concurrency at 6 on two cores and
        # leave a remote generation server idle. One thread per worker, plus headroom.
        workers = (options or RunOptions()).concurrency
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=workers + 4))
        if answer_fn is not None:
            return await arun_eval(ds, out_dir, answer_fn, options)
        assert pipeline_factory is not None  # checked on entry: exactly one of the two is given
        pipeline = pipeline_factory()
        try:
            return await arun_eval(ds, out_dir, pipeline_answer_fn(pipeline, use_references=use_references),
                                   options)
        finally:
            closer = getattr(pipeline, "aclose", None)
            if closer is not None:
                await closer()

    return asyncio.run(main())
