"""Local corpora: build, persist, cache and open hybrid (lexical + dense) indexes.

A corpus is either a directory written by ``webglm index build`` or a plain
folder (or file) of Markdown / text / HTML documents. A plain folder is indexed
on first use and cached under the cache directory, keyed by the files' sizes and
modification times, the encoder and the chunking settings, so a changed corpus
is re-indexed and an unchanged one opens instantly.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .config import WebGLMConfig
from .errors import CorpusError
from .text import TEXT_VERSION
from .types import Failure, to_dict

Progress = Callable[[str], None]

DOCS_ALIASES = ("docs", "webglm-docs")


@dataclass(frozen=True, slots=True)
class OpenedCorpus:
    """An index ready to rank, with what reading the sources skipped."""

    index: object  # webglm.contriever.CorpusIndex
    location: str
    failures: tuple[Failure, ...] = ()
    files_read: int = 0
    from_cache: bool = False


def bundled_docs() -> Path | None:
    """The user guide shipped beside the package (a source checkout or sdist)."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "docs", here / "_docs"):
        if candidate.is_dir() and any(candidate.glob("*.md")):
            return candidate
    return None


def resolve_corpus_path(path: str | os.PathLike) -> Path:
    """Map a user-given corpus argument to an existing path or raise CorpusError."""
    p = Path(path).expanduser()
    if not p.exists() and str(path) in DOCS_ALIASES:
        docs = bundled_docs()
        if docs is not None:
            return docs
    if not p.exists():
        raise CorpusError(
            f"corpus path not found: {path}",
            hint="pass a folder of .md/.txt/.html files or a directory made by 'webglm index build'",
        )
    return p


# Part of the cache key: cached indexes built before passages were indexed as title + text
# are rebuilt instead of reused.
_INDEXED = "title+text"


def _fingerprint(sources: Sequence[Path], config: WebGLMConfig, model_id: str) -> str:
    h = hashlib.sha256()
    h.update(model_id.encode())
    h.update(_INDEXED.encode())
    h.update(TEXT_VERSION.encode())  # chunking and BM25 terms depend on it
    h.update(json.dumps(to_dict(config.chunk), sort_keys=True).encode())
    for src in sorted(sources):
        files = [src] if src.is_file() else sorted(f for f in src.rglob("*") if f.is_file())
        for f in files:
            try:
                st = f.stat()
            except OSError:
                continue
            h.update(f"{f.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def build_index(
    sources: Sequence[str | os.PathLike],
    encoder,
    config: WebGLMConfig,
    *,
    out: str | os.PathLike | None = None,
    progress: Progress | None = None,
) -> OpenedCorpus:
    """Read, chunk and index ``sources``; save to ``out`` when given."""
    from .contriever import CorpusIndex
    from .retriever import read_corpus

    paths = [resolve_corpus_path(s) for s in sources]
    docs = read_corpus(paths, config.chunk)
    if progress:
        progress(f"indexing {len(docs.passages)} passages from {docs.files_read} files"
                 + (f" ({docs.files_skipped} skipped)" if docs.files_skipped else ""))

    def step(done: int, total: int) -> None:
        if progress and total:
            progress(f"encoded {done}/{total} passages")

    index = CorpusIndex.build(list(docs.passages), encoder, config.rank, progress=step)
    if out is not None:
        index.save(Path(out))
    return OpenedCorpus(index, str(out or paths[0]), docs.failures, docs.files_read)


def open_corpus(
    path: str | os.PathLike, encoder, config: WebGLMConfig, *, progress: Progress | None = None
) -> OpenedCorpus:
    """Open a saved index, a Milvus corpus (``milvus-lite:PATH.db``, ``milvus://HOST:PORT/NAME``),
    or index a plain folder through the on-disk cache."""
    from .contriever import CorpusIndex, is_index_dir
    from .contriever.milvus import is_milvus_uri

    if is_milvus_uri(path):
        from .stores import open_store

        store = open_store(str(path), encoder, config)
        return OpenedCorpus(store, str(path), from_cache=True)
    p = resolve_corpus_path(path)
    if is_index_dir(p):
        return OpenedCorpus(CorpusIndex.load(p, encoder), str(p), from_cache=True)
    cache = config.resolved_cache_dir() / "corpora" / _fingerprint([p], config, encoder.model_id)
    if is_index_dir(cache):
        try:
            return OpenedCorpus(CorpusIndex.load(cache, encoder), str(p), from_cache=True)
        except CorpusError:
            pass  # a damaged cache entry is rebuilt below
    opened = build_index([p], encoder, config, progress=progress)
    try:
        opened.index.save(cache)  # type: ignore[attr-defined]
    except OSError as exc:  # a read-only cache must not stop the answer
        if progress:
            progress(f"could not cache the index in {cache}: {exc}")
    return opened
