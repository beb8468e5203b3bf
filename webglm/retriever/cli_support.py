"""Thin helpers for the command line: flags to config overrides, a one-shot
retrieval, and a plain-text rendering of what was retrieved.

``webglm retrieve "question" --engine searxng --allow-host 127.0.0.1:8080`` can be
wired as::

    cfg = load_config(path, overrides=retriever_overrides(engine=..., allow_hosts=...))
    print(render_retrieval(asyncio.run(retrieve_once(question, cfg))))
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..config import WebGLMConfig
from ..types import Retrieval
from .client import make_clients
from .core import WebRetriever
from .search import make_engine


def retriever_overrides(
    *,
    engine: str | None = None,
    allow_hosts: Sequence[str] = (),
    fuse: bool | None = None,
    chunk_mode: str | None = None,
    robots: bool | None = None,
    k: int | None = None,
) -> dict[str, Any]:
    """Map CLI flags (``--engine``, ``--allow-host``...) to ``load_config`` overrides."""
    out: dict[str, Any] = {
        "search.engine": engine,
        "search.fuse": fuse,
        "search.k": k,
        "chunk.mode": chunk_mode,
        "fetch.robots": robots,
    }
    if allow_hosts:
        out["fetch.allow_hosts"] = tuple(allow_hosts)
    return {key: value for key, value in out.items() if value is not None}


async def retrieve_once(
    question: str, config: WebGLMConfig, environ: Mapping[str, str] | None = None
) -> Retrieval:
    """Run the web retriever once for ``question`` with fresh clients, closed afterwards."""
    api_client, fetch_client = make_clients(config.fetch, config.search)
    try:
        engine = make_engine(config.search.engine, config.search, api_client, environ)
        retriever = WebRetriever(
            config.search, config.fetch, config.chunk, engine=engine, fetch_client=fetch_client
        )
        return await retriever.retrieve(question)
    finally:
        await api_client.aclose()
        await fetch_client.aclose()


def render_retrieval(retrieval: Retrieval, max_passages: int = 10) -> str:
    """Human-readable summary: hits, passages (shortened), failures, timings, events."""
    lines = [f"{len(retrieval.hits)} results, {len(retrieval.passages)} passages"]
    for hit in retrieval.hits:
        lines.append(f"  [{hit.rank}] {hit.title or '(no title)'} <{hit.url}> ({hit.engine})")
    for passage in retrieval.passages[:max_passages]:
        text = passage.text if len(passage.text) <= 160 else passage.text[:157] + "..."
        lines.append(f"  - {passage.source}: {passage.title} <{passage.url}>\n      {text}")
    if len(retrieval.passages) > max_passages:
        lines.append(f"  ... {len(retrieval.passages) - max_passages} more passages")
    for failure in retrieval.failures:
        lines.append(f"  ! {failure.stage}/{failure.kind}: {failure.url} {failure.detail}")
    lines.append("  timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in retrieval.timings.items()))
    lines.extend(f"  event: {event}" for event in retrieval.events)
    return "\n".join(lines)
