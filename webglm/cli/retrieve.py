"""``webglm retrieve``: the retrieval and ranking stages alone (no generation), with scores."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path
from typing import Any, Optional

import typer

from webglm.cli.ask import open_pipeline, search_failure
from webglm.cli.common import _say, app, check_utf8, handle_errors
from webglm.cli.format import timings_line


def format_ranked(references, trace) -> str:
    """References in the order the generator would see them, each with its ranking score, then
    failures and timings."""
    lines = [] if references else ["No reference passed the relevance threshold."]
    for ref in references:
        p = ref.passage
        lines.append(f"[{ref.index}] score {ref.score:.3f}  {p.title or p.url}  <{p.url}>")
        snippet = " ".join(p.text.split())
        lines.append(textwrap.indent(textwrap.shorten(snippet, 220, placeholder=" …"), "    "))
    for f in trace.failures[:5]:
        lines.append(f"! {f.stage} {f.kind}: {textwrap.shorten(f.url or f.detail, 160, placeholder=' …')}")
    if len(trace.failures) > 5:
        lines.append(f"! … {len(trace.failures) - 5} more failures")
    lines += ["", timings_line(trace.timings)]
    return "\n".join(lines)


@app.command()
@handle_errors
def retrieve(
    question: str = typer.Argument(..., help="The question to retrieve references for."),
    corpus: Optional[str] = typer.Option(None, "--corpus", "-c", help="Local corpus (as for ask); else the web."),
    engine: Optional[str] = typer.Option(None, "--engine", "-e", help="Web search engine: auto, searxng, brave, serpapi, duckduckgo."),
    allow_host: Optional[list[str]] = typer.Option(None, "--allow-host", help="HOST[:PORT] exempt from the public-address rule (repeatable)."),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="Number of references (default 5)."),
    as_json: bool = typer.Option(False, "--json", help="Print {question, references, trace} as JSON."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="TOML config file."),
    sets: Optional[list[str]] = typer.Option(None, "--set", help="Override any setting: --set rank.top_k=3"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress messages on stderr."),
) -> None:
    """Retrieve and rank only: the references a question would be answered from, with their scores."""
    from webglm.pipeline import validate_question
    from webglm.types import to_dict

    question = validate_question(check_utf8(question, "question"))
    flags: dict[str, Any] = {"search.engine": engine, "rank.top_k": top_k}
    glm = open_pipeline(config_file, sets, flags, allow_host, corpus, quiet)

    async def run():
        async with glm:
            return await glm.areferences(question)

    references, trace = asyncio.run(run())
    if as_json:
        _say(json.dumps({"question": question, "references": to_dict(references), "trace": to_dict(trace)},
                        ensure_ascii=False, indent=2))
    else:
        _say(format_ranked(references, trace))
    failed = search_failure(references, trace, glm.config) if corpus is None else None
    if failed is not None:
        raise failed
