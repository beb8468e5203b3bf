"""Listing the files of a local corpus without leaving it, looping or recursing.

A corpus folder is untrusted in the same way a web page is: it may hold links to
``/etc/passwd``, links that loop, FIFOs and devices, directories nobody may read, or
trees thousands of levels deep. The walk therefore

* resolves every path and refuses what lies outside the corpus root, unless
  following links out of it was asked for (``corpus.follow_symlinks``);
* visits each real directory once (by device and inode), so link loops end;
* keeps an explicit stack instead of recursing, so depth is bounded only by the
  operating system's path length;
* reports, with a reason, every entry it does not read that a user would expect to
  be read: links out of the root, broken or looping links, non-regular files with a
  document suffix, and directories it cannot list.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

# Version-control metadata is never a document; walking .git also made cache keys
# change on every commit.
SKIP_DIRS = frozenset({".git", ".hg", ".svn"})


@dataclass(frozen=True, slots=True)
class Skipped:
    """An entry the walk did not read, and why."""

    path: Path
    reason: str
    kind: str = "skipped"  # "skipped" (refused) or "unreadable" (the OS said no)


@dataclass(frozen=True, slots=True)
class Found:
    """A regular file to read, with the stat taken during the walk."""

    path: Path  # as the user sees it: under the given root, links not resolved
    real: Path  # resolved target
    st: os.stat_result


@dataclass(slots=True)
class Walk:
    """Result of :func:`walk_corpus`: files to read (sorted) and entries skipped."""

    files: list[Found] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _inside(real: Path, root: Path) -> bool:
    return real == root or root in real.parents


def _resolve(path: Path) -> Path | None:
    """The link target, or None when it is broken or loops."""
    try:
        return path.resolve(strict=True)
    except (OSError, RuntimeError):  # RuntimeError: symlink loop on some Python versions
        return None


def _entry(path: Path, root: Path, follow: bool, walk: Walk) -> tuple[Path, os.stat_result] | None:
    """Resolve one directory entry; record why it is refused, or return (real path, stat)."""
    real = _resolve(path)
    if real is None:
        walk.skipped.append(Skipped(path, "broken or looping symbolic link"))
        return None
    if not follow and not _inside(real, root):
        walk.skipped.append(Skipped(path, f"link target {real} is outside the corpus root; "
                                          "set corpus.follow_symlinks=true to read it"))
        return None
    try:
        return real, real.stat()
    except OSError as exc:
        walk.skipped.append(Skipped(path, f"cannot stat: {exc.strerror or exc}", "unreadable"))
        return None


def walk_corpus(given: Path, suffixes: frozenset[str], *, follow_symlinks: bool = False) -> Walk:
    """List the document files under ``given`` (a file or a directory)."""
    walk = Walk()
    root = _resolve(given)
    if root is None:
        walk.skipped.append(Skipped(given, "broken or looping symbolic link"))
        return walk
    if not root.is_dir():
        # A single file named on the command line is read whatever its suffix.
        got = _entry(given, root, True, walk)
        if got and stat.S_ISREG(got[1].st_mode):
            walk.files.append(Found(given, *got))
        elif got:
            walk.skipped.append(Skipped(given, "not a regular file"))
        return walk
    seen = {(root.stat().st_dev, root.stat().st_ino)}
    stack = [given]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                names = sorted(e.name for e in it)
        except OSError as exc:
            walk.skipped.append(Skipped(folder, f"cannot list directory: {exc.strerror or exc}", "unreadable"))
            continue
        for name in names:
            _visit(folder / name, root, suffixes, follow_symlinks, seen, stack, walk)
    walk.files.sort(key=lambda f: f.path.as_posix())
    return walk


def _visit(path: Path, root: Path, suffixes: frozenset[str], follow: bool, seen: set,
           stack: list[Path], walk: Walk) -> None:
    """Classify one entry: push a directory, keep a document file, or record a skip."""
    wanted = path.suffix.lower() in suffixes
    try:
        is_link = path.is_symlink()
        lst = path.lstat()
    except OSError as exc:
        walk.skipped.append(Skipped(path, f"cannot stat: {exc.strerror or exc}", "unreadable"))
        return
    if not is_link and stat.S_ISDIR(lst.st_mode) and path.name in SKIP_DIRS:
        return
    if not is_link and not stat.S_ISDIR(lst.st_mode) and not wanted:
        return  # other files are not documents: not worth a line in the report
    # Only links need resolving: a plain entry under the root is inside it by construction.
    got = _entry(path, root, follow, walk) if is_link else (path.absolute(), lst)
    if got is None:
        return
    real, st = got
    if stat.S_ISDIR(st.st_mode):
        key = (st.st_dev, st.st_ino)
        if key in seen:
            if is_link:
                walk.skipped.append(Skipped(path, "link to a directory already read (loop)"))
            return
        seen.add(key)
        stack.append(path)
    elif not wanted:
        return
    elif stat.S_ISREG(st.st_mode):
        walk.files.append(Found(path, real, st))
    else:
        walk.skipped.append(Skipped(path, "not a regular file (FIFO, socket or device)"))
