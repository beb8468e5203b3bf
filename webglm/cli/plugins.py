"""``webglm plugins``: the search engines, generator backends and encoders this install knows."""

from __future__ import annotations

import json

import typer

from webglm.cli.common import app, handle_errors


@app.command()
@handle_errors
def plugins(as_json: bool = typer.Option(False, "--json", help="Print the list as JSON.")) -> None:
    """List the components usable by name (--engine, --backend, rank.encoder): built-ins and the
    ones installed packages add through entry points, with any plugin that failed to load."""
    from webglm.registry import plugin_report

    rows = plugin_report()
    if as_json:
        typer.echo(json.dumps({"plugins": rows}, ensure_ascii=False, indent=2))
        return
    for row in rows:
        status = "" if row["status"] == "ok" else f"  [not loaded: {row['status']}]"
        typer.echo(f"{row['kind']:<17} {row['name']:<22} {row['origin']:<16} {row['target']}{status}")
