"""What ``webglm eval`` calls: one function from command-line options to a written report.

The CLI stays thin: it parses flags, calls :func:`eval_command` and prints
:func:`summary_line`. The pipeline module is imported only when a pipeline is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import EvalError
from .datasets import Fields, load_dataset
from .report import Report
from .runner import RunOptions, run_eval
from .store import RecordReplayStore

ANSWERERS = ("pipeline", "extractive")


def open_store(cache: str | Path | None, *, record: bool, replay: bool,
               snapshot: str | None = None) -> RecordReplayStore | None:
    """The record/replay cache for a run, or None when neither is asked for."""
    if record and replay:
        raise EvalError("--record and --replay exclude each other")
    if not (record or replay):
        return None
    if cache is None:
        raise EvalError("--record/--replay need --cache PATH", hint="e.g. --cache runs/cache.sqlite")
    return RecordReplayStore(cache, mode="replay" if replay else "record", snapshot=snapshot)


def eval_command(dataset: str | Path, *, out_dir: str | Path, fmt: str = "auto",
                 config: Any = None, corpus: str | Path | None = None, cache: str | Path | None = None,
                 record: bool = False, replay: bool = False, snapshot: str | None = None,
                 answerer: str = "pipeline", use_references: str = "auto", concurrency: int = 1,
                 limit: int | None = None, retry_failed: bool = False, timeout_s: float = 0.0,
                 skip_bad_rows: bool = False, fields: Mapping[str, str] | None = None,
                 progress: bool = True, resamples: int = 1000, seed: int = 0,
                 dataset_options: Mapping[str, Any] | None = None,
                 pipeline_kwargs: Mapping[str, Any] | None = None, given_passages: bool = False,
                 offset: int = 0, ray_address: str | None = None, actors: int = 2) -> Report:
    """Run ``webglm eval``: load the dataset, build the answerer, run (resuming) and report.

    ``config`` is a :class:`webglm.WebGLMConfig` (None: defaults). ``answerer="extractive"``
    uses the model-free baseline (needs given references). ``fields`` maps ``question``,
    ``answers``, ``id``, ``references`` (and ``kind``) for the generic jsonl format.
    ``pipeline_kwargs`` go to ``WebGLM`` (e.g. an ``encoder`` or ``engine`` to inject).
    ``nq-oracle`` data is answered from a corpus of all its passages (built once, cached),
    or with ``given_passages`` from each question's own passages.
    ``ray_address`` spreads the questions over ``actors`` Ray actors, one pipeline each
    (see :mod:`webglm.eval.distributed`); rows are written here, by this process.
    """
    if answerer not in ANSWERERS:
        raise EvalError(f"unknown answerer {answerer!r}", hint=f"use one of {', '.join(ANSWERERS)}")
    # Fields checks the answer kind a caller passes as a string
    ds = load_dataset(dataset, fmt, fields=Fields(**fields) if fields else None,  # type: ignore[arg-type]
                      skip_bad_rows=skip_bad_rows,
                      limit=limit, offset=offset, **dict(dataset_options or {}))
    pipeline_kwargs = dict(pipeline_kwargs or {})
    if given_passages and ds.fmt != "nq-oracle":
        raise EvalError("--given-passages is for --format nq-oracle",
                        hint="for other data with references use --use-references always")
    if ds.fmt == "nq-oracle" and answerer == "pipeline":
        use_references = "always" if given_passages else "never"
        if not given_passages:
            corpus = _oracle_corpus(dataset, config, pipeline_kwargs, skip_bad_rows, progress)
    options = RunOptions(concurrency=concurrency, retry_failed=retry_failed, timeout_s=timeout_s,
                         progress=progress, resamples=resamples, seed=seed)
    if answerer == "extractive":
        from .baselines import ExtractiveAnswerer

        return run_eval(ds, out_dir=out_dir, answer_fn=ExtractiveAnswerer(), options=options)
    if ray_address is not None:
        if record or replay:
            raise EvalError("--ray does not combine with --record/--replay yet",
                            hint="record or replay without --ray, or use --corpus for repeatable retrieval")
        return _ray_eval(ds, out_dir, ray_address, actors, config, corpus, use_references, options,
                         pipeline_kwargs)
    store = open_store(cache, record=record, replay=replay, snapshot=snapshot)
    if ds.fmt == "squad" and corpus is None:  # answer from all the paragraphs, not the question's own
        from ..config import WebGLMConfig
        from .squad import squad_corpus

        corpus = squad_corpus(dataset, (config or WebGLMConfig()).resolved_cache_dir())

    def factory():
        from ..pipeline import WebGLM

        return WebGLM(config, corpus=corpus, page_store=store, replay=replay, **pipeline_kwargs)

    try:
        return run_eval(ds, out_dir=out_dir, pipeline_factory=factory, use_references=use_references,
                        options=options)
    finally:
        if store is not None:
            store.close()


def _oracle_corpus(dataset: str | Path, config: Any, pipeline_kwargs: dict, skip_bad_rows: bool,
                   progress: bool) -> Path:
    """Index every passage of the whole file (not only the evaluated slice); the encoder is
    shared with the pipeline through ``pipeline_kwargs`` so it loads once."""
    import sys

    from ..config import WebGLMConfig
    from .nq_oracle import build_oracle_corpus

    config = config or WebGLMConfig()
    if "encoder" not in pipeline_kwargs:
        from ..contriever import make_encoder

        pipeline_kwargs["encoder"] = make_encoder(config.rank)
    full = load_dataset(dataset, "nq-oracle", skip_bad_rows=skip_bad_rows)
    say = (lambda msg: print(f"webglm: {msg}", file=sys.stderr)) if progress else None
    return build_oracle_corpus(full, pipeline_kwargs["encoder"], config, progress=say)


def _ray_eval(ds, out_dir, address: str, actors: int, config: Any, corpus: Any, use_references: str,
              options: RunOptions, pipeline_kwargs: Mapping[str, Any] | None) -> Report:
    """The run with a Ray answerer: at least one example in flight per actor."""
    import dataclasses

    from .distributed import RayAnswerer

    answerer = RayAnswerer(address, actors=actors, config=config, corpus=corpus, use_references=use_references,
                           pipeline_kwargs=pipeline_kwargs)
    try:
        answerer.wait_ready()
        options = dataclasses.replace(options, concurrency=max(options.concurrency, actors))
        return run_eval(ds, out_dir=out_dir, answer_fn=answerer, options=options)
    finally:
        answerer.close()


def summary_line(report: Report) -> str:
    """One line for the terminal: primary metric with its interval, counts, report path."""
    m = report.metrics.get(report.primary)
    ci = f" [{m.ci_low:.3f}, {m.ci_high:.3f}]" if m else ""
    where = report.run.get("out_dir", "")
    return (f"{report.dataset}: {report.primary} = {report.score:.4f}{ci} over {report.n_examples} examples "
            f"({report.n_failed} failed); report in {where}/report.md")
