"""Safe writing and checked reading of index folders.

* Every file is written under a temporary name unique to the writer, then renamed
  into place, and a lock file serialises whole saves: two processes writing the same
  folder each replace all of it, never a mix of the two.
* ``meta.json`` records a SHA-256 of every other file and the ranking settings the
  vectors depend on; loading checks both, so shuffled passages, scrambled vectors or
  a different similarity are a clear error instead of silently wrong answers.
* Failures to write (a full disk, a read-only folder, ``--out`` naming a file) become
  :class:`CorpusError` with the folder named, and leave no temporary files behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from ..config import RankConfig
from ..errors import CorpusError

LOCK_NAME = ".webglm-index.lock"
# Settings that change the stored vectors or how their scores read: an index built with
# one value must not be ranked with another.
VECTOR_SETTINGS = ("encoder", "similarity", "quantize", "max_length")


def settings_of(rank: RankConfig) -> dict[str, Any]:
    """The ranking settings recorded in (and checked against) ``meta.json``."""
    return {name: getattr(rank, name) for name in VECTOR_SETTINGS}


def check_settings(meta: dict, rank: RankConfig | None, folder: Path) -> None:
    """Raise CorpusError when ``rank`` differs from the settings the index was built with."""
    built = meta.get("settings")
    if rank is None or not isinstance(built, dict):
        return  # indexes written before settings were recorded are taken as they are
    for name, now in settings_of(rank).items():
        if name in built and built[name] != now:
            raise CorpusError(
                f"index at {folder} was built with rank.{name}={built[name]!r}, this run uses {now!r}",
                url=str(folder),
                hint=f"rebuild the index with these settings, or drop --set rank.{name}",
            )


def digest(path: Path) -> str:
    """SHA-256 of a file, read in blocks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(folder: Path, meta: dict) -> None:
    """Raise ValueError when a file no longer matches the checksum written beside it."""
    sums = meta.get("sha256")
    if not isinstance(sums, dict):
        return
    for name, want in sums.items():
        if digest(folder / name) != want:
            raise ValueError(f"{name} does not match its checksum in meta.json (changed after the index was written)")


@contextlib.contextmanager
def locked_folder(out: Path) -> Iterator[None]:
    """Create ``out`` and hold an exclusive lock on it for the duration of a save."""
    if out.exists() and not out.is_dir():
        raise CorpusError(f"cannot write the index to {out}: it exists and is not a directory",
                          url=str(out), hint="choose a new folder for --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise write_error(out, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another save of this folder finishes first
        yield
    finally:
        os.close(fd)


class Writer:
    """Writes files into a folder through unique temporary names; collects their checksums."""

    def __init__(self, out: Path):
        self.out = out
        self.sums: dict[str, str] = {}
        self._pending: list[tuple[Path, str]] = []

    def write(self, name: str, fill: Callable[[Path], Any], *, checksum: bool = True) -> None:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.out)
        os.close(fd)
        tmp = Path(tmp_name)
        self._pending.append((tmp, name))
        fill(tmp)
        if checksum:
            self.sums[name] = digest(tmp)

    def commit(self) -> None:
        """Rename every written file into place (meta.json is written by the caller last)."""
        for tmp, name in self._pending:
            os.replace(tmp, self.out / name)
        self._pending.clear()

    def discard(self) -> None:
        for tmp, _name in self._pending:
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._pending.clear()


def write_error(out: Path, exc: BaseException) -> CorpusError:
    """A write failure (OSError, or faiss's RuntimeError) as one clear CorpusError."""
    reason = getattr(exc, "strerror", None) or str(exc).strip().splitlines()[-1][:200]
    return CorpusError(f"cannot write the index to {out}: {reason}", url=str(out),
                       hint="free some disk space or choose another folder", runtime=True)
