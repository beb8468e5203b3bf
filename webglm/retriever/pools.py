"""The shared pools of extraction worker processes (see :mod:`.workers` for who starts them).

A pool is keyed by its size and shared by every owner in the process: :func:`lease_pool`
counts owners and the last :func:`release_pool` shuts the workers down; :func:`process_pool`
hands out a pool that lives until the process exits.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from .extract import _LEASES, _PINNED, _POOLS_LOCK, _PROCESS_POOLS, _warn_once, warm_up

WATCH_SECONDS = 1.0  # how often a worker checks that the process it serves is alive



def process_pool(workers: int) -> Executor | None:
    """The shared pool of ``workers`` extraction processes, started on first use (None for 0).

    Extraction is pure Python and lxml under the GIL: threads of one process do not run it
    in parallel, processes do. Workers come from a fork server (a clean process without
    the caller's threads, which forking a process that runs ONNX Runtime or llama.cpp
    would copy in a broken state) and warm the extractor up when they start. The first call
    blocks until every worker is up (about a second), so no page's time box pays for it.
    A pool obtained here lives until the process exits; :func:`lease_pool` is the variant
    whose owner shuts it down.
    """
    return _acquire(workers, lease=False)


def lease_pool(workers: int) -> Executor | None:
    """:func:`process_pool`, counted: the pool is shut down when every lease is released."""
    return _acquire(workers, lease=True)


def _acquire(workers: int, *, lease: bool) -> Executor | None:
    if workers <= 0:
        return None
    with _POOLS_LOCK:
        pool = _PROCESS_POOLS.get(workers)
        if pool is None:
            try:
                pool = _start_pool(workers)
            except (OSError, RuntimeError, BrokenProcessPool) as exc:  # no processes allowed here
                _warn_once(f"extraction worker processes unavailable, using threads: {exc}")
                return None
            _PROCESS_POOLS[workers] = pool
        if lease:
            _LEASES[id(pool)] = _LEASES.get(id(pool), 0) + 1
        else:  # an unleased user: the pool is never shut down behind its back
            _PINNED.add(id(pool))
        return pool


def release_pool(pool: Executor) -> None:
    """Give back a :func:`lease_pool` lease; the last one shuts the workers down and waits for them."""
    with _POOLS_LOCK:
        if pool not in _PROCESS_POOLS.values():
            return  # it broke and was shut down already (_drop_pool)
        left = _LEASES.get(id(pool), 0) - 1
        if left > 0 or id(pool) in _PINNED:
            _LEASES[id(pool)] = max(left, 0)
            return
        _LEASES.pop(id(pool), None)
        for key, value in list(_PROCESS_POOLS.items()):
            if value is pool:
                del _PROCESS_POOLS[key]
    pool.shutdown(wait=True, cancel_futures=True)


def is_current(pool: Executor) -> bool:
    """False once ``pool`` broke (a worker died) or was shut down: lease a fresh one."""
    with _POOLS_LOCK:
        return pool in _PROCESS_POOLS.values()


def _start_pool(workers: int) -> ProcessPoolExecutor:
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=worker_start, initargs=(os.getpid(),))
    main = sys.modules.get("__main__")
    saved: dict[str, object] = {k: main.__dict__[k] for k in ("__spec__", "__file__") if main and k in main.__dict__}
    try:
        # A spawned worker re-runs the caller's main script unless told nothing about it:
        # a user's script without an ``if __name__ == "__main__"`` guard would run again
        # in every worker. The workers only need this module, imported by name.
        if main is not None:
            main.__spec__ = None
            main.__dict__.pop("__file__", None)
        # one job per worker starts them all now (workers are otherwise started on demand)
        jobs = [pool.submit(warm_up) for _ in range(workers)]
    finally:
        if main is not None:
            main.__dict__.update(saved)
    for job in jobs:
        job.result()
    return pool


def worker_start(owner: int) -> None:
    """Initializer of each worker: warm the extractor up, and exit once ``owner`` is gone.

    A worker blocks on its task queue, whose write end it holds itself, so it never sees its
    owner die: after a SIGKILL or an abort of the owner it would wait forever. It checks instead.
    """
    warm_up()
    threading.Thread(target=_watch, args=(owner,), name="webglm-extract-watch", daemon=True).start()


def _watch(owner: int) -> None:
    while _alive(owner):
        time.sleep(WATCH_SECONDS)
    os._exit(0)  # nothing to flush: the worker's results had nobody left to read them


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or the id now belongs to another user
        return False
    try:  # a killed owner nobody reaped yet is a zombie: gone too
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc (not Linux): kill(0) said it exists
        return True
