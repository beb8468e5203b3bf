"""The ``webglm`` command line: a thin layer over the public API.

User errors (bad input, missing files, unknown settings) print one line on
stderr and exit with status 2; they never print a traceback.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import json
import os
import stat
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable, Optional

# Models come from local paths and PyPI packages only: never reach for a hub, and keep
# library progress bars off the terminal (webglm prints its own progress on stderr).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# gRPC (Milvus) logs keepalive renegotiations as errors on stderr; webglm reports real failures
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import typer  # noqa: E402

from webglm.config import WebGLMConfig, load_config  # noqa: E402
from webglm.errors import ConfigError, InputError, WebGLMError  # noqa: E402
from webglm.messages import message  # noqa: E402
from webglm.sanitize import strip_controls  # noqa: E402
from webglm.text import language_name  # noqa: E402
from webglm.types import EXTRACTIVE_FALLBACK  # noqa: E402

app = typer.Typer(
    help="webglm: web-enhanced question answering with cited answers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
index_app = typer.Typer(help="Build and inspect local corpus indexes.", no_args_is_help=True)
app.add_typer(index_app, name="index")

EXIT_USER_ERROR = 2


def _say(text: str, err: bool = False) -> None:
    """Print text that may quote documents: escape sequences in them must not reach the terminal."""
    typer.echo(strip_controls(text), err=err)


def _err(message: str) -> None:
    _say(message, err=True)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn webglm errors into one stderr line and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except WebGLMError as exc:
            _err(f"error: {exc}")
            raise typer.Exit(EXIT_USER_ERROR) from None
        except KeyboardInterrupt:
            _err("interrupted")
            raise typer.Exit(130) from None
        except OSError as exc:
            if not _output_error(exc):  # not about the output: a real bug, keep its traceback
                raise
            _output_failed(exc)
            raise typer.Exit(EXIT_USER_ERROR) from None

    return wrapper


def _output_error(exc: OSError) -> bool:
    """Whether an OSError that reached the command came from writing stdout.

    Stream writes carry no file name. A broken pipe can only be the output here; a full disk
    is the output when stdout is a file or a device (``> /dev/full``)."""
    if exc.filename is not None:
        return False
    if exc.errno == errno.EPIPE:
        return True
    if exc.errno not in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO):
        return False
    try:
        mode = os.fstat(sys.stdout.fileno()).st_mode
    except (OSError, ValueError):
        return True
    return stat.S_ISREG(mode) or (stat.S_ISCHR(mode) and not sys.stdout.isatty())


def _output_failed(exc: OSError) -> None:
    """stdout is closed (``| head``) or full (``> /dev/full``): say so once, then go quiet."""
    try:  # later flushes (at exit) would fail again and print a traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    if exc.errno == errno.EPIPE:
        _err("error: the output was closed before webglm finished writing (broken pipe)")
    else:
        _err(f"error: cannot write the output: {exc.strerror or exc}")


def check_utf8(text: str, what: str) -> str:
    """Reject text that was not valid UTF-8 on the command line (Python keeps such bytes as
    lone surrogates, which no tokenizer or JSON encoder accepts)."""
    for pos, ch in enumerate(text):
        if "\udc80" <= ch <= "\udcff":
            raise InputError(f"the {what} is not valid UTF-8 (byte 0x{ord(ch) - 0xDC00:02x} at character {pos + 1})",
                             hint="check the terminal's encoding (LANG / LC_ALL should name UTF-8)")
        if "\ud800" <= ch <= "\udfff":
            raise InputError(f"the {what} holds a lone surrogate at character {pos + 1}")
    return text


def _progress(quiet: bool) -> Callable[[str], None]:
    if quiet:
        return lambda msg: None
    return lambda msg: _err(f"webglm: {msg}")


def parse_sets(items: list[str] | None) -> dict[str, str]:
    """``--set rank.top_k=3`` pairs into a dotted-key dict."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}", hint="e.g. --set rank.top_k=3")
        out[key.strip()] = value.strip()
    return out


def build_config(config_file: Optional[Path], sets: list[str] | None, **flags: Any) -> WebGLMConfig:
    """Defaults < TOML file < environment < --set < dedicated flags."""
    overrides: dict[str, Any] = parse_sets(sets)
    overrides.update({k: v for k, v in flags.items() if v is not None})
    return load_config(config_file, overrides=overrides)


# --- formatting ----------------------------------------------------------------


def _quotes(answer) -> dict[int, list[str]]:
    """Reference index -> the checked evidence quotes the answer's sentences rest on."""
    out: dict[int, list[str]] = {}
    for s in getattr(answer, "support", ()) or ():
        for ev in s.evidence:
            if ev.reference not in s.cited:
                continue  # support for a citation the answer does not carry
            quote = textwrap.shorten(" ".join(ev.quote.split()), 200, placeholder=" …")
            line = f'quote: "{quote}" (chars {ev.start}-{ev.end}, support {ev.probability:.2f})'
            if line not in out.setdefault(ev.reference, []):
                out[ev.reference].append(line)
    return out


def format_references(answer) -> str:
    lines = []
    quotes = _quotes(answer)
    for ref in answer.references:
        p = ref.passage
        title = p.title or p.url
        lines.append(f"[{ref.index}] {title}  <{p.url}>")
        snippet = " ".join(p.text.split())
        lines.append(textwrap.indent(textwrap.shorten(snippet, 220, placeholder=" …"), "    "))
        lines += [f"    {q}" for q in quotes.get(ref.index, ())]
    return "\n".join(lines)


def format_timings(answer) -> str:
    order = ["search", "fetch", "extract", "retrieve", "rank", "first_token", "generate", "score", "total"]
    t = answer.trace.timings
    parts = [f"{k} {t[k]:.2f}s" for k in order if k in t]
    parts += [f"{k} {v:.2f}s" for k, v in t.items() if k not in order]
    return "timings: " + " · ".join(parts)


QUOTED_NOTE = message("quoted_unsupported")


def _failure(f) -> str:
    """One failure for the summary line: the URL where there is one, else what went wrong."""
    if f.url:
        return f"{f.kind} {f.url}"
    return f"{f.stage} {f.kind}: " + textwrap.shorten(f.detail, 120, placeholder=" …")


def format_answer(answer, *, with_text: bool = True) -> str:
    out = []
    if with_text:
        out.append(answer.text.strip())
        best = answer.candidates[0].candidate if answer.candidates else None
        if best is not None and best.finish_reason == EXTRACTIVE_FALLBACK:
            lang = answer.trace.language or "en"
            out.append(message("quoted_unsupported", lang) if best.raw_text else
                       message("quoted_language", lang, name=language_name(lang)))
    if answer.references:
        out += ["", "References:", format_references(answer)]
    if len(answer.candidates) > 1:
        out += ["", "Candidates (best first; [quoted]: the model's text was unsupported and replaced by a quote):"]
        for i, s in enumerate(answer.candidates, 1):
            text = textwrap.shorten(" ".join(s.candidate.text.split()), 160, placeholder=" …")
            mark = " [quoted]" if s.candidate.finish_reason == EXTRACTIVE_FALLBACK else ""
            out.append(f"  {i}. total {s.total:+.3f} (reward {s.reward:+.3f}, citations {s.citation_score:.2f}){mark} "
                       f"{text}")
    fails = answer.trace.failures
    if fails:
        out += ["", f"{len(fails)} item(s) failed: " + "; ".join(_failure(f) for f in fails[:5])
                + (" …" if len(fails) > 5 else "")]
    out += ["", format_timings(answer)]
    return "\n".join(out)


# --- ask ------------------------------------------------------------------------


def _no_source_help() -> str:
    return (
        "no search source configured. Either ask a local corpus: webglm ask --corpus docs \"...\" "
        "(any folder of .md/.txt/.html files), or configure a web engine: set SEARXNG_URL (self-hosted "
        "SearXNG), BRAVE_API_KEY or SERPAPI_API_KEY, or pass --engine duckduckgo"
    )


async def _stream_to_terminal(glm, question: str) -> Any:
    from webglm.types import FinalEvent, ReferencesReady, TokenEvent

    final = None
    async for event in glm.stream(question):
        if isinstance(event, ReferencesReady):
            _err(f"webglm: {len(event.references)} references ready")
        elif isinstance(event, TokenEvent) and event.candidate == 0:
            sys.stdout.write(strip_controls(event.text))
            sys.stdout.flush()
        elif isinstance(event, FinalEvent):
            final = event.answer
    await glm.aclose()
    sys.stdout.write("\n")
    return final


@app.command()
@handle_errors
def ask(
    question: str = typer.Argument(..., help="The question to answer."),
    corpus: Optional[str] = typer.Option(None, "--corpus", "-c", help="Local corpus: a folder of documents, an index dir, "
                                         "'docs', milvus-lite:PATH.db or milvus://HOST:PORT/collection."),
    engine: Optional[str] = typer.Option(None, "--engine", "-e", help="Web search engine: auto, searxng, brave, serpapi, duckduckgo."),
    allow_host: Optional[list[str]] = typer.Option(None, "--allow-host", help="HOST[:PORT] exempt from the public-address rule (repeatable)."),
    candidates: Optional[int] = typer.Option(None, "--candidates", "-n", help="Generate N candidates and pick the best with the scorer."),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="Number of references (default 5)."),
    backend: Optional[str] = typer.Option(None, "--backend", help="Generator backend: llamacpp, transformers, openai, echo."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Generator model path or name."),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens"),
    template: Optional[str] = typer.Option(None, "--template", help="Prompt template: chat, webglm, glm, or a JSON file."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible server URL (with /v1)."),
    quantize: Optional[str] = typer.Option(None, "--quantize", help="transformers on GPU: none, 8bit, 4bit (bitsandbytes)."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="transformers: auto, float32, float16, bfloat16."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole Answer (with trace) as JSON."),
    stream: Optional[bool] = typer.Option(None, "--stream/--no-stream", help="Print tokens as they come (default: on a terminal)."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="TOML config file."),
    sets: Optional[list[str]] = typer.Option(None, "--set", help="Override any setting: --set rank.top_k=3"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress messages on stderr."),
) -> None:
    """Answer a question with citations, from a local corpus or the web."""
    from webglm.pipeline import WebGLM, validate_question

    question = validate_question(check_utf8(question, "question"))
    flags = {"search.engine": engine, "scorer.candidates": candidates, "rank.top_k": top_k,
             "generate.backend": backend, "generate.model": model, "generate.max_new_tokens": max_new_tokens,
             "generate.template": template, "generate.base_url": base_url, "generate.quantize": quantize,
             "generate.dtype": dtype}
    if allow_host:
        flags["fetch.allow_hosts"] = tuple(allow_host)
    cfg = build_config(config_file, sets, **flags)
    if corpus is None:
        from webglm.retriever import configured_engines

        if cfg.search.engine == "auto" and not configured_engines(cfg.search, os.environ):
            raise ConfigError(_no_source_help())
    glm = WebGLM(cfg, corpus=corpus, progress=_progress(quiet))
    glm.load()
    if stream is None:
        stream = sys.stdout.isatty() and not as_json
    if stream and not as_json:
        answer = asyncio.run(_stream_to_terminal(glm, question))
        raw = answer.candidates[0].candidate.raw_text.strip() if answer.candidates else ""
        changed = answer.abstained or answer.text.strip() != raw
        if changed and not answer.abstained:
            typer.echo("\nChecked answer (citations verified against the references):")
        _say(format_answer(answer, with_text=changed))
        return
    answer = glm.answer(question)
    if as_json:
        from webglm.types import to_json

        _say(to_json(answer, indent=2))
    else:
        _say(format_answer(answer))


# --- index ----------------------------------------------------------------------


@index_app.command("build")
@handle_errors
def index_build(
    sources: list[str] = typer.Argument(..., help="Folders or files of .md/.txt/.html documents."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Directory to write the index to."),
    store: Optional[str] = typer.Option(None, "--store", help="Index incrementally into milvus-lite:PATH.db "
                                        "or milvus://HOST:PORT/collection instead of --out."),
    config_file: Optional[Path] = typer.Option(None, "--config"),
    sets: Optional[list[str]] = typer.Option(None, "--set"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Index documents into a directory (--out) or a Milvus corpus (--store), for `webglm ask --corpus`."""
    from webglm.contriever import make_encoder
    from webglm.corpus import build_index

    if (out is None) == (store is None):
        raise InputError("give exactly one of --out DIR or --store URI",
                         hint="e.g. --out docs-index, or --store milvus-lite:docs.db")
    cfg = build_config(config_file, sets)
    progress = _progress(quiet)
    encoder = make_encoder(cfg.rank)
    progress(f"loading encoder {encoder.model_id}")
    if hasattr(encoder, "load"):
        encoder.load()
    if store is not None:
        return _index_into_store(sources, store, encoder, cfg, progress)
    opened = build_index(sources, encoder, cfg, out=out, progress=progress)
    for f in opened.failures:
        _err(f"skipped {f.url}: {f.detail}")
    typer.echo(f"indexed {len(opened.index)} passages from {opened.files_read} files "
               f"({len(opened.failures)} skipped) into {out}")


def _index_into_store(sources: list[str], uri: str, encoder, cfg: WebGLMConfig, progress) -> None:
    from webglm.contriever.milvus import is_milvus_uri
    from webglm.stores import describe, open_store, sync_store

    if not is_milvus_uri(uri):
        raise InputError(f"unknown store {uri!r}", hint="use milvus-lite:PATH.db or milvus://HOST:PORT/collection")
    store = open_store(uri, encoder, cfg, create=True)
    try:
        report = sync_store(store, sources, cfg, progress=progress)
    finally:
        store.close()
    for f in report.failures:
        _err(f"skipped {f.url}: {f.detail}")
    typer.echo(describe(report) + f" in {uri}")


@index_app.command("info")
@handle_errors
def index_info(path: Path = typer.Argument(..., help="An index directory.")) -> None:
    """Print an index's metadata."""
    from webglm.contriever import is_index_dir
    from webglm.errors import CorpusError

    meta = path / "meta.json"
    if not is_index_dir(path) or not meta.is_file():
        raise CorpusError(f"not an index directory: {path}", hint="create one with 'webglm index build'")
    typer.echo(json.dumps(json.loads(meta.read_text()), indent=2))


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
    config_file: Optional[Path] = typer.Option(None, "--config"),
    sets: Optional[list[str]] = typer.Option(None, "--set"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Evaluate on a dataset: one resumable row per question, then a Markdown/JSON report."""
    from webglm.eval.cli_support import eval_command, summary_line

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
    typer.echo(summary_line(report))


@app.command("eval-attribution")
@handle_errors
def eval_attribution(
    files: list[Path] = typer.Argument(..., help="ExpertQA jsonl files (e.g. expertqa_rand_test.jsonl)."),
    fmt: str = typer.Option("expertqa", "--format", help="expertqa."),
    config_file: Optional[Path] = typer.Option(None, "--config"),
    sets: Optional[list[str]] = typer.Option(None, "--set", help="e.g. --set citation.method=rouge1"),
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
) -> None:
    """Turn a Stack Exchange dump into a local corpus for `webglm eval --corpus`."""
    from webglm.eval import load_dataset
    from webglm.eval.stackexchange import export_corpus as export

    if not posts.is_file():
        raise InputError(f"no such dump: {posts}", hint="pass a <site>_Posts.xml file")
    held_out = [ex.id for ex in load_dataset(posts, "stackexchange", limit=exclude_first).examples] \
        if exclude_first else []
    written = export(posts, out, exclude=held_out, min_score=min_score)
    typer.echo(f"wrote {written} threads to {out} ({len(held_out)} held out for evaluation)")


@app.command()
@handle_errors
def score(
    question: Optional[str] = typer.Argument(None, help="The question (or use --file)."),
    answers: Optional[list[str]] = typer.Argument(None, help="One or more answers to rank."),
    file: Optional[str] = typer.Option(None, "--file", "-f",
                                       help='JSONL of {"question": ..., "answers": [...]} rows; - reads stdin.'),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per answer, in input order."),
    model: Optional[str] = typer.Option(None, "--model", help="Scorer folder (default: the shipped scorer)."),
    config_file: Optional[Path] = typer.Option(None, "--config"),
    sets: Optional[list[str]] = typer.Option(None, "--set"),
) -> None:
    """Rank answers with the preference reward model (a standalone reranker); the model
    loads once for all the questions of a --file."""
    from webglm.errors import InputError
    from webglm.scorer.cli_support import format_scores, read_score_file, score_answers, score_records

    if file is not None and question is not None:
        raise InputError("give either QUESTION ANSWER... or --file, not both")
    if file is None and (question is None or not answers):
        raise InputError("nothing to score", hint='webglm score "QUESTION" "ANSWER" ["ANSWER" ...], or --file rows.jsonl')
    cfg = build_config(config_file, sets, **{"scorer.model": model})
    rows = read_score_file(file) if file is not None else [(question, list(answers or []))]
    for q, texts in rows:
        scored = score_answers(q, texts, cfg.scorer)
        if as_json:
            for record in score_records(q, scored, texts):
                typer.echo(json.dumps(record, ensure_ascii=False))
        else:
            typer.echo((f"{q}\n" if len(rows) > 1 else "") + format_scores(scored))


@app.command("train-scorer")
@handle_errors
def train_scorer(
    data: list[str] = typer.Argument(..., help="Pair data: Stack Exchange Posts.xml, WebGPT, SHP, or {question, chosen, rejected} jsonl."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the trained scorer."),
    fmt: str = typer.Option("auto", "--format"),
    encoder: str = typer.Option("", "--encoder", help="Encoder folder (default: packaged all-MiniLM-L6-v2)."),
    train_layers: int = typer.Option(0, "--train-layers", help="Top encoder blocks to fine-tune (0: head only)."),
    use_embedding: bool = typer.Option(False, "--use-embedding", help="Feed the answer embedding to the head."),
    epochs: int = typer.Option(30, "--epochs"),
    batch_size: int = typer.Option(16, "--batch-size"),
    lr: float = typer.Option(3e-5, "--lr"),
    head_lr: float = typer.Option(3e-3, "--head-lr"),
    patience: int = typer.Option(5, "--patience"),
    max_steps: int = typer.Option(0, "--max-steps"),
    seed: int = typer.Option(0, "--seed"),
    threads: int = typer.Option(0, "--threads"),
    min_score_gap: int = typer.Option(2, "--min-score-gap", help="Stack Exchange: vote gap a pair needs."),
    min_answers: int = typer.Option(2, "--min-answers"),
    min_answer_score: Optional[int] = typer.Option(None, "--min-answer-score"),
    min_rank_gap: int = typer.Option(1, "--min-rank-gap"),
    length_mitigation: bool = typer.Option(False, "--length-mitigation", help="WebGLM's truncate-to-median / drop-short rule."),
    resume: bool = typer.Option(False, "--resume"),
) -> None:
    """Train a preference reward model on upvote or comparison pairs (grouped splits by question)."""
    from webglm.scorer.cli_support import train_scorer_command
    from webglm.scorer.data import StackExchangeRecipe
    from webglm.scorer.train import TrainScorerConfig

    recipe = StackExchangeRecipe(min_answer_score=min_answer_score, min_answers=min_answers,
                                 min_score_gap=min_score_gap, min_rank_gap=min_rank_gap,
                                 truncate_to_median=length_mitigation, drop_below_half_median=length_mitigation)
    tcfg = TrainScorerConfig(encoder=encoder, train_layers=train_layers, use_embedding=use_embedding, epochs=epochs,
                             batch_size=batch_size, lr=lr, head_lr=head_lr, patience=patience, max_steps=max_steps,
                             seed=seed, threads=threads)
    metrics = train_scorer_command(data, str(out), fmt=fmt, recipe=recipe, config=tcfg, seed=seed, resume=resume,
                                   echo=typer.echo)
    typer.echo(json.dumps(metrics, indent=2, sort_keys=True))


@app.command("train-retriever")
@handle_errors
def train_retriever(
    data: Path = typer.Argument(..., help="WebGLM-QA jsonl (cited references are positives) or Stack Exchange Posts.xml."),
    out: Path = typer.Argument(..., help="Folder for the fine-tuned encoder checkpoint."),
    base_model: str = typer.Option("", "--base-model", help="Start from this encoder folder (default: packaged MiniLM)."),
    loss: str = typer.Option("contrastive", "--loss", help="contrastive (in-batch + hard negatives) or regression (ROUGE-1 labels)."),
    epochs: int = typer.Option(1, "--epochs"),
    lr: float = typer.Option(2e-5, "--lr"),
    batch_size: int = typer.Option(16, "--batch-size"),
    temperature: float = typer.Option(0.05, "--temperature"),
    max_length: int = typer.Option(128, "--max-length"),
    max_steps: int = typer.Option(0, "--max-steps"),
    holdout: float = typer.Option(0.0, "--holdout", help="Share of questions kept out of training for eval-retriever."),
    separate_query_encoder: bool = typer.Option(False, "--separate-query-encoder"),
    similarity: str = typer.Option("cosine", "--similarity", help="cosine or dot (Contriever)."),
    hard_negatives: bool = typer.Option(True, "--hard-negatives/--no-hard-negatives"),
    seed: int = typer.Option(0, "--seed"),
    threads: int = typer.Option(0, "--threads"),
) -> None:
    """Fine-tune the dense retriever (WebGLM's LLM-augmented retriever recipe)."""
    from webglm.contriever.train import train_retriever as train

    def progress(step: int, total: int, value: float) -> None:
        if step == total or step % 10 == 0:
            _err(f"webglm: step {step}/{total} loss {value:.4f}")

    metrics = train(data, out, base_model=base_model, loss=loss, epochs=epochs, lr=lr, batch_size=batch_size,
                    temperature=temperature, max_length=max_length, max_steps=max_steps,
                    separate_query_encoder=separate_query_encoder, similarity=similarity, holdout=holdout,
                    seed=seed, threads=threads, hard_negatives=hard_negatives, progress=progress)
    typer.echo(json.dumps(metrics, indent=2, sort_keys=True))


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
        metrics = evaluate_beir_modes(data, make_encoder(cfg.rank), modes=modes, rank=cfg.rank, split=split or "test",
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


@app.command()
@handle_errors
def serve(
    corpus: Optional[str] = typer.Option(None, "--corpus", "-c", help="Serve answers from a local corpus."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything but loopback needs WEBGLM_API_KEYS."),
    port: int = typer.Option(8000, "--port"),
    allow_host: Optional[list[str]] = typer.Option(None, "--allow-host", help="Let the fetcher reach HOST[:PORT] (server-side only)."),
    config_file: Optional[Path] = typer.Option(None, "--config"),
    sets: Optional[list[str]] = typer.Option(None, "--set", help="Any setting, e.g. --set serve.rate_limit=30"),
) -> None:
    """Serve the pipeline over HTTP: the web page at /, /v1/ask, /v1/chat/completions, /mcp, /health."""
    from webglm.pipeline import WebGLM
    from webglm.serve import serve as run_server

    flags = {"fetch.allow_hosts": tuple(allow_host)} if allow_host else {}
    cfg = build_config(config_file, sets, **flags)
    run_server(WebGLM(cfg, corpus=corpus, progress=_progress(False)), host=host, port=port)


@app.command()
def mcp(
    corpus: Optional[str] = typer.Option(None, "--corpus", "-c", help="Answer from a local corpus."),
    allow_host: Optional[list[str]] = typer.Option(None, "--allow-host", help="Let the fetcher reach HOST[:PORT]."),
    config_file: Optional[Path] = typer.Option(None, "--config"),
    sets: Optional[list[str]] = typer.Option(None, "--set"),
) -> None:
    """Serve the MCP tools 'ask' and 'search' over stdio (for agents that launch tools)."""
    from webglm.pipeline import WebGLM
    from webglm.serve.mcp_server import run_stdio

    flags = {"fetch.allow_hosts": tuple(allow_host)} if allow_host else {}
    cfg = build_config(config_file, sets, **flags)
    # stdout carries the protocol: progress goes to stderr (as _progress always does)
    run_stdio(WebGLM(cfg, corpus=corpus, progress=_progress(False)))


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
