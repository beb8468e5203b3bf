"""Extraction worker processes for one owner: sized to the usable CPUs, started lazily, closed.

``fetch.extract_processes`` decides how pages are extracted:

* ``"auto"`` (default): one process per CPU this process may run on (``os.sched_getaffinity``,
  at most :data:`AUTO_MAX_WORKERS`) when there are at least two, else threads. The pool is
  started in a background thread by the first batch of at least :data:`AUTO_MIN_PAGES` pages;
  pages that arrive before it is up are extracted in threads, so no question waits for it.
* ``0``: threads of this process only.
* ``N``: N processes, started with the first search; pages wait for them to be up.

The pool itself is shared by every owner in the process (:func:`.pools.lease_pool`) and shut
down when the last owner closes, which the pipeline does in ``WebGLM.close()`` / ``aclose()``.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Executor

from . import pools

AUTO_MIN_PAGES = 4  # fewer pages than this never start a pool (a single page gains nothing)
AUTO_MAX_WORKERS = 8  # each worker holds ~60 MB of extractor state; pages per question are ~10


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def resolve_workers(setting: int | str) -> int:
    """The number of extraction processes ``fetch.extract_processes`` asks for (0: threads)."""
    if setting == "auto":
        cpus = usable_cpus()
        return min(cpus, AUTO_MAX_WORKERS) if cpus >= 2 else 0
    return int(setting)


class ExtractionWorkers:
    """One owner's lease on the shared extraction pool (see module docs); :meth:`close` ends it."""

    def __init__(self, setting: int | str = "auto"):
        self.auto = setting == "auto"
        self.workers = resolve_workers(setting)
        self._pool: Executor | None = None
        self._starter: threading.Thread | None = None
        self._closed = False
        self._lock = threading.Lock()  # guards the fields; never held while a pool starts
        self._start_lock = threading.Lock()

    @property
    def eager(self) -> bool:
        """True when pages wait for the pool (an explicit number of processes)."""
        return self.workers > 0 and not self.auto

    def pool(self) -> Executor | None:
        """The pool if it is up (None: extract in threads); a broken one is replaced in the background."""
        with self._lock:
            pool = self._pool
        if pool is not None and self._current() is None:
            self.start_background(AUTO_MIN_PAGES)
            return None
        return pool

    def _current(self) -> Executor | None:
        with self._lock:
            pool = self._pool
            if pool is None or pools.is_current(pool):
                return pool
            self._pool = self._starter = None  # it broke (a worker died): forget it
        pools.release_pool(pool)
        return None

    def start(self) -> Executor | None:
        """Start the pool now, blocking until every worker is up (idempotent; None: threads)."""
        with self._start_lock:
            if self._closed or self.workers <= 0:
                return None
            current = self._current()
            if current is not None:
                return current
            pool = pools.lease_pool(self.workers)
            with self._lock:
                if not self._closed:
                    self._pool = pool
                    return pool
            if pool is not None:  # closed while it started
                pools.release_pool(pool)
            return None

    def start_background(self, pages: int) -> None:
        """Start the pool in a thread when a batch of ``pages`` pages makes it worth it."""
        if not self.auto or self.workers <= 0 or pages < AUTO_MIN_PAGES:
            return
        with self._lock:
            if self._closed or self._pool is not None or self._starter is not None:
                return
            self._starter = threading.Thread(target=self._start_quietly, name="webglm-extract-start")
            self._starter.start()

    def _start_quietly(self) -> None:
        try:
            self.start()
        except RuntimeError:  # the interpreter is shutting down: threads it is
            pass

    def close(self) -> None:
        """Release the lease: the last owner's close shuts the worker processes down."""
        with self._lock:
            self._closed = True
            starter = self._starter
        if starter is not None and starter is not threading.current_thread():
            starter.join()
        with self._lock:
            pool, self._pool, self._starter = self._pool, None, None
        if pool is not None:
            pools.release_pool(pool)

    def __enter__(self) -> ExtractionWorkers:  # noqa: PYI034 - no typing.Self on Python 3.10
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
