"""Where a corpus argument points: an existing path, or the bundled user guide for ``docs``.

Kept apart from :mod:`webglm.corpus` (which builds indexes) so that :mod:`webglm.stores`
can resolve paths without importing the index code that in turn opens stores.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import CorpusError

__all__ = ["DOCS_ALIASES", "bundled_docs", "resolve_corpus_path"]

DOCS_ALIASES = ("docs", "webglm-docs")


def bundled_docs() -> Path | None:
    """The user guide shipped beside the package (a source checkout or sdist)."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "docs", here / "_docs"):
        if candidate.is_dir() and any(candidate.glob("*.md")):
            return candidate
    return None


def resolve_corpus_path(path: str | os.PathLike) -> Path:
    """Map a user-given corpus argument to an existing path or raise CorpusError."""
    if not str(path).strip():  # Path("") is ".": an empty argument must not index the working folder
        raise CorpusError("the corpus path is empty",
                          hint="pass a folder of .md/.txt/.html files, an index directory, or 'docs'")
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
