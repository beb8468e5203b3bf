"""Evaluation commands: ``eval``, ``eval-attribution``, ``eval-retriever``, ``export-corpus``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from webglm.cli.common import ALWAYS_JSON, EXIT_RUNTIME_ERROR, _err, _say, app, build_config, handle_errors
from webglm.errors import ConfigError, InputError

# `webglm eval` fails (status 1) when more than this share of the examples failed.
DEFAULT_MAX_FAILED = 0.1

@app.command("eval")
@handle_errors
def eval_(
    dataset: Path = typer.Argument(..., help="Dataset file (jsonl/json/Posts.xml/txt)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder: results.jsonl, report.md, report.json."),
    fmt: str = typer.Option("auto", "--format", help="auto, nq-open, nq-oracle, webquestions, webglm-qa, webgpt, eli5, "
                            "stackexchange, squad, jsonl, hf."),
    given_passages: bool = typer.Option(False, "--given-passages",
                                        help="nq-oracle: hand each question its own passages (no retrieval)."),
    offset: int = typer.Option(0, "--offset", min=0, help="Skip the first N examples (with --limit: a slice)."),
    corpus: Optional[str] = typer.Option(None, "--corpus", "-c", help="Answer from a local corpus instead of the web."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Record/replay cache file (sqlite)."),
    record: bool = typer.Option(False, "--record", help="Store search results and pages in --cache."),
    replay: bool = typer.Option(False, "--replay", help="Use only --cache: identical retrieval, no network."),
    snapshot: Optional[str] = typer.Option(None, "--snapshot", help="Cache snapshot date (default: today)."),
    answerer: str = typer.Option("pipeline", "--answerer", help="pipeline, or extractive (model-free baseline)."),
    use_references: str = typer.Option("auto", "--use-references", help="auto, always, never: use references in the dataset."),
    concurrency: int = typer.Option(1, "--concurrency", "-j", min=1),
    ray: Optional[str] = typer.Option(None, "--ray", help="Answer on Ray actors: --ray local (a runtime on this "
                                      "machine), --ray auto (this node's cluster), --ray HOST:PORT."),
    actors: int = typer.Option(2, "--actors", min=1, help="With --ray: actors, each holding one loaded pipeline."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1),
    sample: Optional[int] = typer.Option(None, "--sample", min=1, help="squad: a fixed random subset of N questions (--seed)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Re-run examples that failed before."),
    timeout: float = typer.Option(0.0, "--timeout", help="Seconds per example (0: none)."),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="Record malformed rows instead of stopping."),
    question_field: Optional[str] = typer.Option(None, "--question-field"),
    answers_field: Optional[str] = typer.Option(None, "--answers-field"),
    id_field: Optional[str] = typer.Option(None, "--id-field"),
    references_field: Optional[str] = typer.Option(None, "--references-field"),
    se_top_n: Optional[int] = typer.Option(None, "--se-top-n", help="Stack Exchange: gold answers per question."),
    se_min_score: Optional[int] = typer.Option(None, "--se-min-score"),
    se_min_answers: Optional[int] = typer.Option(None, "--se-min-answers"),
    seed: int = typer.Option(0, "--seed"),
    max_failed_fraction: float = typer.Option(
        DEFAULT_MAX_FAILED, "--max-failed-fraction", min=0.0, max=1.0,
        help="Exit with status 1 when more than this share of the examples failed (the rows and the "
             "report are written either way)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report (as report.json holds it) as JSON."),
    config_file: Optional[Path] = typer.Option(None, "--config"),
    sets: Optional[list[str]] = typer.Option(None, "--set"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Evaluate on a dataset: one resumable row per question, then a Markdown/JSON report."""
    from webglm.eval.cli_support import eval_command, summary_line
    from webglm.eval.report import report_data

    fields = {k: v for k, v in {"question": question_field, "answers": answers_field, "id": id_field,
                                "references": references_field}.items() if v}
    se = {k: v for k, v in {"top_n": se_top_n, "min_score": se_min_score, "min_answers": se_min_answers}.items()
          if v is not None}
    if sample is not None:
        se.update(sample=sample, seed=seed)
    report = eval_command(dataset, out_dir=out, fmt=fmt, config=build_config(config_file, sets), corpus=corpus,
                          cache=cache, record=record, replay=replay, snapshot=snapshot, answerer=answerer,
                          use_references=use_references, concurrency=concurrency, limit=limit,
                          retry_failed=retry_failed, timeout_s=timeout, skip_bad_rows=skip_bad_rows,
                          fields=fields or None, progress=not quiet, seed=seed, dataset_options=se or None,
                          given_passages=given_passages, offset=offset, ray_address=ray, actors=actors)
    if as_json:
        _say(json.dumps(report_data(report), indent=2, ensure_ascii=False, allow_nan=False))
    else:
        typer.echo(summary_line(report))
    check_failures(report, max_failed_fraction)


def check_failures(report, max_fraction: float) -> None:
    """Exit 1 when more than ``max_fraction`` of the examples failed (everything is written)."""
    if not report.n_examples or report.n_failed / report.n_examples <= max_fraction:
        return
    where = report.run.get("out_dir", "")
    _err(f"error: {report.n_failed} of {report.n_examples} examples failed ({report.n_failed / report.n_examples:.0%}), "
         f"more than --max-failed-fraction {max_fraction:g} (their records are in {where}/results.jsonl; "
         "rerun them with --retry-failed, or raise --max-failed-fraction)")
    raise typer.Exit(EXIT_RUNTIME_ERROR)


@app.command("eval-attribution")
@handle_errors
def eval_attribution(
    files: list[Path] = typer.Argument(..., help="ExpertQA jsonl files (e.g. expertqa_rand_test.jsonl)."),
    fmt: str = typer.Option("expertqa", "--format", help="expertqa."),
    config_file: Optional[Path] = typer.Option(None, "--config"),
    sets: Optional[list[str]] = typer.Option(None, "--set", help="e.g. --set citation.method=rouge1"),
    as_json: bool = typer.Option(False, "--json", help=ALWAYS_JSON),
) -> None:
    """Score every claim against its cited passages with the support check; compare with experts."""
    from webglm.eval.attribution import attribution_command

    result = attribution_command(files, fmt=fmt, config=build_config(config_file, sets))
    typer.echo(json.dumps(result, indent=2, sort_keys=True))


@app.command("export-corpus")
@handle_errors
def export_corpus(
    posts: Path = typer.Argument(..., help="A Stack Exchange <site>_Posts.xml dump."),
    out: Path = typer.Argument(..., help="Folder for one Markdown file per question thread."),
    exclude_first: int = typer.Option(0, "--exclude-first", min=0,
                                      help="Leave out the threads `webglm eval POSTS --limit N` evaluates."),
    min_score: int = typer.Option(1, "--min-score", help="Answers scoring below this are left out."),
    as_json: bool = typer.Option(False, "--json", help="Print {out, written, held_out} as JSON."),
) -> None:
    """Turn a Stack Exchange dump into a local corpus for `webglm eval --corpus`."""
    from webglm.eval import load_dataset
    from webglm.eval.stackexchange import export_corpus as export

    if not posts.is_file():
        raise InputError(f"no such dump: {posts}", hint="pass a <site>_Posts.xml file")
    held_out = [ex.id for ex in load_dataset(posts, "stackexchange", limit=exclude_first).examples] \
        if exclude_first else []
    written = export(posts, out, exclude=held_out, min_score=min_score)
    if as_json:
        _say(json.dumps({"out": str(out), "written": written, "held_out": len(held_out)}, indent=2))
    else:
        typer.echo(f"wrote {written} threads to {out} ({len(held_out)} held out for evaluation)")


@app.command("eval-retriever")
@handle_errors
def eval_retriever(
    data: Path = typer.Argument(..., help="BEIR folder, Stack Exchange Posts.xml or WebGLM-QA jsonl."),
    mode: str = typer.Option("hybrid", "--mode", help="bm25, dense or hybrid (BEIR: also a list, bm25,dense,hybrid)."),
    fmt: str = typer.Option("auto", "--format", help="auto (by the path) or beir."),
    holdout: float = typer.Option(0.0, "--holdout"),
    split: str = typer.Option("", "--split", help="BEIR: the qrels file (default test); else all, train or heldout."),
    chunk: bool = typer.Option(False, "--chunk/--no-chunk", help="BEIR: split documents with the chunk.* settings."),
    limit: int = typer.Option(0, "--limit"),
    model: Optional[str] = typer.Option(None, "--model", help="Encoder folder (e.g. a train-retriever checkpoint)."),
    quantize: Optional[str] = typer.Option(None, "--quantize", help="auto, int8 or none."),
    config_file: Optional[Path] = typer.Option(None, "--config"),
    sets: Optional[list[str]] = typer.Option(None, "--set"),
    as_json: bool = typer.Option(False, "--json", help=ALWAYS_JSON),
) -> None:
    """Retrieval quality: nDCG@10, recall@k, MRR (and pairwise accuracy / Spearman where labelled)."""
    from webglm.contriever.beir import evaluate_beir_modes, is_beir_dir
    from webglm.contriever.encoders import make_encoder
    from webglm.contriever.evaluate import evaluate_retriever

    cfg = build_config(config_file, sets, **{"rank.model": model, "rank.quantize": quantize})
    if fmt not in ("auto", "beir"):
        raise ConfigError(f"unknown --format {fmt!r}", hint="use auto (a .xml dump, a .jsonl file or a BEIR "
                          "folder, told apart by the path) or beir")
    if fmt == "beir" or (fmt == "auto" and is_beir_dir(data)):
        modes = [m.strip() for m in mode.split(",") if m.strip()]
        split_document = _beir_chunker(cfg.chunk) if chunk else None
        metrics: dict[str, Any] = evaluate_beir_modes(data, make_encoder(cfg.rank), modes=modes, rank=cfg.rank, split=split or "test",
                                      limit=limit, split_document=split_document)
        metrics = metrics[modes[0]] if len(modes) == 1 else metrics
    else:
        metrics = evaluate_retriever(data, rank=cfg.rank, mode=mode, holdout=holdout, split=split or "all",
                                     limit=limit)
    typer.echo(json.dumps(metrics, indent=2, sort_keys=True))


def _beir_chunker(chunk_cfg):
    """Documents split into passages by the retriever's chunker (passages keep the document's url)."""
    from webglm.retriever.chunk import chunk_text

    def split_document(doc):
        return chunk_text(doc.text, url=doc.url, title=doc.title, config=chunk_cfg, source="local") or [doc]

    return split_document
