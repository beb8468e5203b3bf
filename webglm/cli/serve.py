"""Serving commands: ``serve`` (HTTP) and ``mcp`` (stdio)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from webglm.cli.common import _progress, app, build_config, handle_errors

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
@handle_errors
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
