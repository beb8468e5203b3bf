"""Local corpora: build, persist, cache and open hybrid (lexical + dense) indexes.

A corpus is either a directory written by ``webglm index build`` or a plain
folder (or file) of Markdown / text / HTML / PDF documents. A plain folder is
indexed on first use and cached under the cache directory, keyed by every file's
size, modification and change times and mode (so a ``chmod`` counts as a change),
what the walk skipped, the encoder and every setting the passages or vectors depend
on, so a changed corpus is re-indexed and an unchanged one opens instantly. The
cache entry keeps the skip report, so a cached open reports the same skipped files.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from .config import WebGLMConfig
from .errors import CorpusError
from .locate import DOCS_ALIASES, bundled_docs, resolve_corpus_path  # noqa: F401 (public names kept here)
from .text import TEXT_VERSION
from .types import Failure, from_dict, to_dict

Progress = Callable[[str], None]

SOURCES = "sources.json"  # beside a cached index: what reading the folder skipped


@dataclass(frozen=True, slots=True)
class OpenedCorpus:
    """An index ready to rank, with what reading the sources skipped."""

    index: Any  # a webglm.contriever.CorpusIndex, or a corpus store (Milvus)
    location: str
    failures: tuple[Failure, ...] = ()
    files_read: int = 0
    from_cache: bool = False


# Part of the cache key: cached indexes built before passages were indexed as title + text
# are rebuilt instead of reused.
_INDEXED = "title+text"


def _fingerprint(sources: Sequence[Path], config: WebGLMConfig, model_id: str) -> str:
    from .retriever.corpus import SUFFIXES
    from .retriever.walk import walk_corpus

    h = hashlib.sha256()
    rank = config.rank
    # chunking and BM25 terms depend on the text module's version
    settings = {"model_id": model_id, "indexed": _INDEXED, "text": TEXT_VERSION, "chunk": to_dict(config.chunk),
                "corpus": to_dict(config.corpus),
                "rank": [rank.encoder, rank.model, rank.query_model, rank.quantize, rank.similarity,
                         rank.max_length]}
    h.update(json.dumps(settings, sort_keys=True).encode())
    for src in sorted(sources):
        walk = walk_corpus(src, SUFFIXES, follow_symlinks=config.corpus.follow_symlinks)
        for f in walk.files:
            st = f.st
            h.update(f"{f.path.absolute()}\0{f.real}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}"
                     f"\0{st.st_mode}\0{os.access(f.real, os.R_OK)}\n".encode("utf-8", "surrogateescape"))
        for skip in walk.skipped:
            h.update(f"skip\0{skip.path.absolute()}\0{skip.reason}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:20]


def _save_report(cache: Path, opened: "OpenedCorpus") -> None:
    report = {"files_read": opened.files_read, "failures": [to_dict(f) for f in opened.failures]}
    tmp = cache / f".sources.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, cache / SOURCES)


def _load_report(cache: Path) -> tuple[tuple[Failure, ...], int]:
    try:
        report = json.loads((cache / SOURCES).read_text(encoding="utf-8"))
        return tuple(from_dict(Failure, f) for f in report["failures"]), int(report["files_read"])
    except (OSError, ValueError, KeyError, TypeError):
        return (), 0


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
    docs = read_corpus(paths, config.chunk, follow_symlinks=config.corpus.follow_symlinks)
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
    from .registry import store_scheme

    if store_scheme(path) is not None:
        from .stores import open_store

        store = open_store(str(path), encoder, config)
        return OpenedCorpus(store, str(path), from_cache=True)
    p = resolve_corpus_path(path)
    if is_index_dir(p):
        return OpenedCorpus(CorpusIndex.load(p, encoder, config.rank), str(p), from_cache=True)
    if (p / "meta.json").is_file() and (p / "passages.jsonl").is_file():
        # an index whose meta.json is damaged, not a folder of documents to index
        raise CorpusError(f"corpus index at {p} is corrupt: meta.json is unreadable or not an index's",
                          url=str(p), hint="rebuild it with 'webglm index build'", runtime=True)
    cache = config.resolved_cache_dir() / "corpora" / _fingerprint([p], config, encoder.model_id)
    if is_index_dir(cache):
        try:
            index = CorpusIndex.load(cache, encoder, config.rank)
            failures, files_read = _load_report(cache)
            return OpenedCorpus(index, str(p), failures, files_read, from_cache=True)
        except CorpusError:
            pass  # a damaged cache entry is rebuilt below
    opened = build_index([p], encoder, config, progress=progress)
    try:
        opened.index.save(cache)
        _save_report(cache, opened)
    except (OSError, CorpusError) as exc:  # a read-only or full cache must not stop the answer
        if progress:
            progress(f"could not cache the index in {cache}: {exc}")
    return opened
