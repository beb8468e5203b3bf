"""The append-only results file of an evaluation run: one JSON line per example id.

Durability rules, so that a run killed at any instant (SIGKILL, power loss) and restarted ends
with exactly one row per id:

* a row is appended as one complete line with a single ``write`` loop on an ``O_APPEND`` file
  descriptor, then ``fsync``-ed before the example counts as done;
* on open, a torn last line (no newline, or not valid JSON) is cut off by truncating the file
  to the last complete line, so the next append starts on a clean line;
* rewrites (dropping failed rows before a retry, compacting duplicates) go to a temporary file
  that is fsync-ed and then renamed over the original, so the file is always old or new;
* an exclusive ``flock`` on a side lock file stops two runs writing to the same directory; the
  kernel releases it when a process dies, so a killed run never blocks its restart.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import EvalError


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ResultsFile:
    """Crash-safe jsonl of result rows keyed by ``id``. Use as a context manager."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.repaired_bytes = 0  # size of a torn tail cut off on open
        self.duplicates = 0  # rows superseded by a later row for the same id (seen by read())
        self._fd: int | None = None
        self._lock_fd: int | None = None

    # -- lifecycle -------------------------------------------------------------

    def __enter__(self) -> ResultsFile:  # noqa: PYI034 - no typing.Self on Python 3.10
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Take the run lock, repair a torn tail and open for appending."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise EvalError(f"another evaluation run is writing {self.path}", url=str(self.path),
                            hint="wait for it to finish or choose another output folder",
                            runtime=True) from None
        created = not self.path.exists()
        self._repair_tail()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if created:
            _fsync_dir(self.path.parent)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    # -- reading ---------------------------------------------------------------

    def _repair_tail(self) -> None:
        """Truncate an incomplete or undecodable last line left by a crash mid-write."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        keep = len(data)
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
        else:
            last_start = data.rfind(b"\n", 0, max(len(data) - 1, 0)) + 1
            if data and not _decodes(data[last_start:]):
                keep = last_start
        if keep != len(data):
            self.repaired_bytes = len(data) - keep
            with self.path.open("r+b") as fh:
                fh.truncate(keep)
                fh.flush()
                os.fsync(fh.fileno())

    def read(self) -> dict[str, dict[str, Any]]:
        """All complete rows by id (a later row for the same id replaces an earlier one)."""
        rows: dict[str, dict[str, Any]] = {}
        self.duplicates = 0
        if not self.path.exists():
            return rows
        with self.path.open("r", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise EvalError(f"corrupt results row at {self.path}:{lineno}: {exc.msg}", url=str(self.path),
                                    hint="remove that line; the example will be run again") from None
                if not isinstance(row, dict) or "id" not in row:
                    raise EvalError(f"results row without an id at {self.path}:{lineno}", url=str(self.path))
                if rows.pop(str(row["id"]), None) is not None:  # keep file order of the surviving row
                    self.duplicates += 1
                rows[str(row["id"])] = row
        return rows

    # -- writing ---------------------------------------------------------------

    def append(self, row: Mapping[str, Any]) -> None:
        """Durably append one row (a complete line, then fsync)."""
        if self._fd is None:
            raise EvalError("results file is not open")
        data = (json.dumps(row, ensure_ascii=False, allow_nan=False, default=str) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)

    def rewrite(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Atomically replace the file's content with ``rows`` (temp file, fsync, rename)."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False, allow_nan=False, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)
        if self._fd is not None:  # the old descriptor points at the replaced inode
            os.close(self._fd)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND, 0o644)


def _decodes(line: bytes) -> bool:
    try:
        json.loads(line)
        return True
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
