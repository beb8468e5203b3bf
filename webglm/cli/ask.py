"""``webglm ask``: answer one question, streamed on a terminal."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from webglm.cli.common import _err, _progress, _say, app, build_config, check_utf8, handle_errors
from webglm.cli.format import format_answer
from webglm.errors import ConfigError, SearchError
from webglm.sanitize import strip_controls

def _no_source_help() -> str:
    return (
        "no search source configured. Either ask a local corpus: webglm ask --corpus docs \"...\" "
        "(any folder of .md/.txt/.html files), or configure a web engine: set SEARXNG_URL (self-hosted "
        "SearXNG), BRAVE_API_KEY or SERPAPI_API_KEY, or pass --engine duckduckgo"
    )


def open_pipeline(config_file: Optional[Path], sets: Optional[list[str]], flags: dict[str, Any],
                  allow_host: Optional[list[str]], corpus: Optional[str], quiet: bool) -> Any:
    """The configured pipeline of ``ask`` and ``retrieve``; without a corpus, a web search engine
    must be configured (the error says how)."""
    from webglm.pipeline import WebGLM

    if allow_host:
        flags["fetch.allow_hosts"] = tuple(allow_host)
    cfg = build_config(config_file, sets, **flags)
    if corpus is None:
        from webglm.retriever import configured_engines

        if cfg.search.engine == "auto" and not configured_engines(cfg.search, os.environ):
            raise ConfigError(_no_source_help())
    return WebGLM(cfg, corpus=corpus, progress=_progress(quiet))


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
    from webglm.pipeline import validate_question

    question = validate_question(check_utf8(question, "question"))
    flags: dict[str, object] = {"search.engine": engine, "scorer.candidates": candidates, "rank.top_k": top_k,
             "generate.backend": backend, "generate.model": model, "generate.max_new_tokens": max_new_tokens,
             "generate.template": template, "generate.base_url": base_url, "generate.quantize": quantize,
             "generate.dtype": dtype}
    glm = open_pipeline(config_file, sets, flags, allow_host, corpus, quiet)
    glm.load()
    if stream is None:
        stream = sys.stdout.isatty() and not as_json
    answer = _print_answer(glm, question, stream=stream and not as_json, as_json=as_json)
    if corpus is None:
        failed = search_failure(answer.references, answer.trace, glm.config)
        if failed is not None:  # the answer (saying why) is printed; the status says it failed
            raise failed


def _print_answer(glm, question: str, *, stream: bool, as_json: bool) -> Any:
    """Answer and print (streamed tokens, plain text or JSON); returns the Answer."""
    if stream:
        answer = asyncio.run(_stream_to_terminal(glm, question))
        raw = answer.candidates[0].candidate.raw_text.strip() if answer.candidates else ""
        changed = answer.abstained or answer.text.strip() != raw
        if changed and not answer.abstained:
            typer.echo("\nChecked answer (citations verified against the references):")
        _say(format_answer(answer, with_text=changed))
        return answer
    try:
        answer = glm.answer(question)
    finally:
        glm.close()  # stops the extraction processes now rather than at interpreter exit
    if as_json:
        from webglm.types import to_json

        _say(to_json(answer, indent=2))
    else:
        _say(format_answer(answer))
    return answer


def _engine_fix(name: str, cfg) -> str:
    """How to repair one engine, in words."""
    if name == "searxng":
        url = cfg.search.searxng_url or os.environ.get("SEARXNG_URL", "")
        return f"is the SearXNG instance at {url or '(no URL)'} up and reachable? If not, fix SEARXNG_URL"
    if name in ("brave", "serpapi"):
        key = "BRAVE_API_KEY" if name == "brave" else "SERPAPI_API_KEY"
        return f"check {key} and that this machine reaches {name}"
    if name == "duckduckgo":
        return "DuckDuckGo is often rate limited: try again later"
    return f"check the {name} engine's settings"


def search_failure(references, trace, cfg) -> SearchError | None:
    """A SearchError when the web search itself failed (no result at all, engines erred), so
    the command exits 1 rather than passing the explanation off as an answer."""
    failed = [f for f in trace.failures if f.stage == "search"]
    if references or trace.counters.get("hits", 0) or not failed:
        return None
    from webglm.retriever import configured_engines

    engines = [cfg.search.engine] if cfg.search.engine != "auto" else configured_engines(cfg.search, os.environ)
    why = "; ".join(" ".join(f.detail.split()) for f in failed[:3])[:300]
    fixes = "; ".join(_engine_fix(name, cfg) for name in engines)
    fixes = fixes[:1].upper() + fixes[1:]
    return SearchError(f"web search with {', '.join(engines) or 'the configured engines'} failed ({why})",
                       hint=f"{fixes}; or choose another engine with --engine, or answer from local files "
                            "with --corpus PATH")
