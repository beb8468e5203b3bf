"""Corpus stores beyond the local index folder: open them and index into them incrementally.

``webglm index build DIR --store milvus-lite:docs.db`` (or ``milvus://HOST:PORT/name``)
mirrors the files under DIR into the store: files that are new or whose bytes changed are
read, chunked, encoded and inserted in batches; a changed file's old passages are deleted
first; files that were indexed from DIR but are gone are deleted. Unchanged files (same
size and modification time, or the same SHA-256 when only the time moved) are not read
again. A file is recorded as indexed only after all its passages are in, so an interrupted
build redoes at most the batch it was in, without duplicates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .config import WebGLMConfig
from .contriever.persist import digest
from .errors import CorpusError
from .types import Failure, Passage

Progress = Callable[[str], None]
BATCH_PASSAGES = 512  # passages encoded and inserted together: large enough for encoder batching


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one incremental build did."""

    added_files: int
    changed_files: int
    deleted_files: int
    unchanged_files: int
    passages_added: int
    passages_deleted: int
    passages_total: int
    failures: tuple[Failure, ...] = ()


def open_store(uri: str, encoder, config: WebGLMConfig, *, create: bool = False):
    """A connected :class:`~webglm.protocols.CorpusStore` for a store URI: ``milvus-lite:PATH.db``,
    ``milvus://HOST:PORT/NAME``, or a scheme a plugin registers (``webglm.stores`` entry points)."""
    from . import registry

    scheme = registry.store_scheme(uri)
    if scheme is None:
        raise registry.stores.unknown(uri.partition(":")[0] if ":" in uri else uri)
    return registry.stores.create(scheme, uri, encoder, config, create)


def milvus_store(uri: str, encoder, config: WebGLMConfig, create: bool = False):
    """The ``milvus-lite`` / ``milvus`` store factory."""
    from .contriever.milvus import MilvusStore

    return MilvusStore(uri, encoder, config.rank).open(create=create)


def _listing(sources: Sequence[str]) -> tuple[dict[str, Path], list[str]]:
    """Shown source name (``file:DIR/x.md``) -> path of every corpus file, and the prefixes covered."""
    from .locate import resolve_corpus_path
    from .retriever.corpus import SUFFIXES

    files: dict[str, Path] = {}
    prefixes: list[str] = []
    for given in sources:
        root = resolve_corpus_path(given)
        if root.is_file():
            files["file:" + root.as_posix()] = root
            prefixes.append("file:" + root.as_posix())
            continue
        prefixes.append("file:" + root.as_posix().rstrip("/") + "/")
        for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES):
            files["file:" + path.as_posix()] = path  # the names read_corpus gives, as in index folders
    return files, prefixes


def _changed(name: str, path: Path, known: dict | None) -> dict | None:
    """The file's new record when it must be (re)indexed, else None."""
    st = path.stat()
    info: dict[str, int | str] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if known and known.get("size") == st.st_size and known.get("mtime_ns") == st.st_mtime_ns:
        return None
    info["sha256"] = digest(path)
    if known and known.get("sha256") == info["sha256"]:
        return None  # touched, not changed
    return info


def _read(name: str, path: Path, config: WebGLMConfig) -> tuple[list[Passage], list[Failure]]:
    from .retriever import read_corpus

    try:
        docs = read_corpus([path], config.chunk)
    except CorpusError as exc:  # an empty or unreadable file: record it, keep going
        return [], [Failure(stage="corpus", kind="skipped", detail=str(exc)[:300], url=name)]
    return list(docs.passages), list(docs.failures)


class _Batch:
    """Files whose passages go into the store together."""

    def __init__(self) -> None:
        self.files: list[tuple[str, dict, int]] = []
        self.passages: list[Passage] = []


def sync_store(store, sources: Sequence[str], config: WebGLMConfig, *,
               progress: Progress | None = None) -> SyncReport:
    """Bring ``store`` in line with the files under ``sources`` (see the module docstring)."""
    say = progress or (lambda msg: None)
    files, prefixes = _listing(sources)
    known = store.files()
    gone = [n for n in known if n not in files and any(n == p or n.startswith(p) for p in prefixes)]
    deleted = 0
    for name in gone:
        deleted += store.delete_source(name)
        store.drop_file(name)
    todo = [(n, p, info) for n, p in files.items() if (info := _changed(n, p, known.get(n))) is not None]
    say(f"{len(files)} files: {len(todo)} to index, {len(files) - len(todo)} unchanged, {len(gone)} removed")
    failures: list[Failure] = []
    added = replaced = 0
    batch = _Batch()
    for i, (name, path, info) in enumerate(todo, 1):
        passages, failed = _read(name, path, config)
        failures += failed
        if failed and not passages:
            continue  # not recorded: a later build tries the file again
        batch.files.append((name, info, len(passages)))
        batch.passages += passages
        if len(batch.passages) >= BATCH_PASSAGES or i == len(todo):
            d, a = _flush(store, batch, known, say, i, len(todo))
            replaced, added = replaced + d, added + a
            batch = _Batch()
    if batch.files:
        d, a = _flush(store, batch, known, say, len(todo), len(todo))
        replaced, added = replaced + d, added + a
    new_files = sum(1 for n, _p, _i in todo if n not in known)
    return SyncReport(new_files, len(todo) - new_files, len(gone), len(files) - len(todo), added,
                      deleted + replaced, store.count(), tuple(failures))


def _flush(store, batch: _Batch, known: dict, say: Progress, done: int, total: int) -> tuple[int, int]:
    """Delete the batch's files' old passages, insert the new ones, then record the files."""
    deleted = sum(store.delete_source(name) for name, _info, _n in batch.files if name in known)
    store.add(batch.passages)
    for name, info, n in batch.files:
        store.put_file(name, {**info, "passages": n})
    say(f"indexed {done}/{total} files ({len(batch.passages)} passages in this batch)")
    return deleted, len(batch.passages)


def describe(report: SyncReport) -> str:
    """One summary line for the terminal."""
    return (f"{report.passages_total} passages in the store; this run: {report.added_files} new, "
            f"{report.changed_files} changed, {report.deleted_files} removed, {report.unchanged_files} "
            f"unchanged files (+{report.passages_added} / -{report.passages_deleted} passages)")
