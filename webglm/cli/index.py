"""``webglm index build`` and ``webglm index info``."""

from __future__ import annotations

import json
from pathlib import Path
from collections.abc import Sized
from typing import Optional, cast

import typer

from webglm.cli.common import ALWAYS_JSON, _err, _progress, _say, build_config, handle_errors, index_app
from webglm.config import WebGLMConfig
from webglm.errors import InputError


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
    as_json: bool = typer.Option(False, "--json", help="Print what was indexed (and skipped) as JSON."),
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
        return _index_into_store(sources, store, encoder, cfg, progress, as_json)
    opened = build_index(sources, encoder, cfg, out=out, progress=progress)
    for f in opened.failures:
        _err(f"skipped {f.url}: {f.detail}")
    passages = len(cast(Sized, opened.index))  # OpenedCorpus.index: a CorpusIndex, typed object
    if as_json:
        _say(json.dumps({"out": str(out), "passages": passages, "files_read": opened.files_read,
                         "skipped": _skipped(opened.failures)}, ensure_ascii=False, indent=2))
        return
    typer.echo(f"indexed {passages} passages from {opened.files_read} files "
               f"({len(opened.failures)} skipped) into {out}")


def _skipped(failures) -> list[dict]:
    return [{"url": f.url, "kind": f.kind, "detail": f.detail} for f in failures]


def _index_into_store(sources: list[str], uri: str, encoder, cfg: WebGLMConfig, progress, as_json: bool) -> None:
    from webglm.registry import store_scheme
    from webglm.stores import describe, open_store, sync_store

    if store_scheme(uri) is None:
        raise InputError(f"unknown store {uri!r}", hint="use milvus-lite:PATH.db or milvus://HOST:PORT/collection")
    store = open_store(uri, encoder, cfg, create=True)
    try:
        report = sync_store(store, sources, cfg, progress=progress)
    finally:
        store.close()
    for f in report.failures:
        _err(f"skipped {f.url}: {f.detail}")
    if as_json:
        from webglm.types import to_dict

        data = {k: v for k, v in to_dict(report).items() if k != "failures"}
        _say(json.dumps({"store": uri, **data, "skipped": _skipped(report.failures)}, ensure_ascii=False, indent=2))
        return
    typer.echo(describe(report) + f" in {uri}")


@index_app.command("info")
@handle_errors
def index_info(
    path: Path = typer.Argument(..., help="An index directory."),
    as_json: bool = typer.Option(False, "--json", help=ALWAYS_JSON),
) -> None:
    """Print an index's metadata (JSON)."""
    from webglm.contriever import is_index_dir
    from webglm.errors import CorpusError

    meta = path / "meta.json"
    if not is_index_dir(path) or not meta.is_file():
        raise CorpusError(f"not an index directory: {path}", hint="create one with 'webglm index build'")
    typer.echo(json.dumps(json.loads(meta.read_text()), indent=2))
