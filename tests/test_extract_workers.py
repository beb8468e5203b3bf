"""Extraction in worker processes by default (``fetch.extract_processes = "auto"``): sized to the
usable CPUs, started only for batches worth it, kept across calls, stopped by close(), and never
left behind by a process that exits."""

import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from webglm import WebGLM
from webglm.config import ChunkConfig, FetchConfig, SearchConfig, WebGLMConfig, load_config
from webglm.errors import ConfigError
from webglm.retriever import WebRetriever, core, make_clients
from webglm.retriever import workers as workers_mod
from webglm.retriever.testing import PageServer
from webglm.testing import FakeSearchEngine, HashEncoder
from webglm.types import SearchHit

extract_mod = importlib.import_module("webglm.retriever.extract")  # the package re-exports a function by that name
ROOT = Path(__file__).resolve().parents[1]
ARTICLE = ("<html><head><title>Harbour {i}</title></head><body><article><p>"
           + "The harbour of town {i} shelters fishing boats and ferries all year round. " * 8
           + "</p></article></body></html>")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _drop_shared_pools() -> None:
    with extract_mod._POOLS_LOCK:
        left = list(extract_mod._PROCESS_POOLS.values())
        extract_mod._PROCESS_POOLS.clear()
        extract_mod._LEASES.clear()
        extract_mod._PINNED.clear()
    for pool in left:
        pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(autouse=True)
def _own_pools():
    """Each test starts without a shared pool: the pool is shared per process, so a pipeline
    another test left open would otherwise hold it (and its workers) across these tests."""
    _drop_shared_pools()
    yield
    _drop_shared_pools()


def _serve(server: PageServer, n: int) -> list[SearchHit]:
    return [SearchHit(server.add(f"/h{i}", ARTICLE.format(i=i)), f"Harbour {i}", "", i, "fake") for i in range(n)]


def test_auto_is_the_default_and_numbers_still_work():
    assert WebGLMConfig().fetch.extract_processes == "auto"
    assert load_config(None, overrides={"fetch.extract_processes": "2"}).fetch.extract_processes == 2
    assert load_config(None, overrides={"fetch.extract_processes": 0}).fetch.extract_processes == 0
    for bad in ("many", "-1", "65", True):
        with pytest.raises(ConfigError, match="extract_processes"):
            load_config(None, overrides={"fetch.extract_processes": bad})


def test_auto_sizes_the_pool_to_the_cpus_this_process_may_use(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)
    assert workers_mod.resolve_workers("auto") == 0  # one CPU: threads
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 5, 7}, raising=False)
    assert workers_mod.resolve_workers("auto") == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert workers_mod.resolve_workers("auto") == workers_mod.AUTO_MAX_WORKERS
    assert workers_mod.resolve_workers(5) == 5 and workers_mod.resolve_workers(0) == 0


async def _retrieve_with(server, hits, retriever_workers, spy):
    search, fetch = SearchConfig(), FetchConfig(allow_hosts=(f"127.0.0.1:{server.port}",), extract_timeout=30.0)
    _, client = make_clients(fetch, search)
    try:
        retriever = WebRetriever(search, fetch, ChunkConfig(), engine=FakeSearchEngine(hits), fetch_client=client,
                                 workers=retriever_workers)
        return await retriever.retrieve("harbour")
    finally:
        await client.aclose()


async def test_small_batches_use_threads_and_a_large_one_starts_the_workers(monkeypatch):
    if workers_mod.usable_cpus() < 2:
        pytest.skip("auto uses threads on one CPU")
    pools: list[object] = []
    real = core.aextract

    async def spy(page, *, timeout, pool=None):
        pools.append(pool)
        return await real(page, timeout=timeout, pool=pool)

    monkeypatch.setattr(core, "aextract", spy)
    with PageServer() as server, workers_mod.ExtractionWorkers("auto") as workers:
        few = await _retrieve_with(server, _serve(server, workers_mod.AUTO_MIN_PAGES - 1), workers, spy)
        assert len({p.url for p in few.passages}) == workers_mod.AUTO_MIN_PAGES - 1
        assert workers.pool() is None and workers._starter is None  # too few pages: no pool at all
        await _retrieve_with(server, _serve(server, 6), workers, spy)
        workers._starter.join(60)  # started in the background by the large batch
        pool = workers.pool()
        assert pool is not None and pools[0] is None  # the first page did not wait for it
        pools.clear()
        again = await _retrieve_with(server, _serve(server, 6), workers, spy)
        assert pools == [pool] * 6 and len({p.url for p in again.passages}) == 6
        pids = list(pool._processes)
        assert len(pids) == workers.workers and all(_alive(p) for p in pids)
        os.kill(pids[0], 9)  # a worker dies: its pages go to threads, and a new pool takes over
        hurt = await _retrieve_with(server, _serve(server, 6), workers, spy)
        assert len({p.url for p in hurt.passages}) == 6, hurt.failures
        workers.pool()
        if workers._starter is not None:
            workers._starter.join(60)
        fresh = workers.pool()
        assert fresh is not None and fresh is not pool
        pids += list(fresh._processes)
    assert not any(_alive(p) for p in pids)  # close() stopped them


def test_the_pipeline_keeps_its_workers_across_answers_and_close_stops_them():
    if workers_mod.usable_cpus() < 2:
        pytest.skip("auto uses threads on one CPU")
    with PageServer() as server:
        hits = _serve(server, 6)
        cfg = load_config(None, overrides={"fetch.allow_hosts": (f"127.0.0.1:{server.port}",),
                                           "fetch.extract_timeout": 30.0, "generate.backend": "echo"})
        with WebGLM(cfg, engine=FakeSearchEngine(hits), encoder=HashEncoder()) as glm:
            assert glm.answer("Which harbour shelters ferries?").references
            glm._workers._starter.join(60)
            pool = glm._workers.pool()
            assert pool is not None
            assert glm.answer("Which harbour shelters boats?").references
            assert glm._workers.pool() is pool  # a sync answer() closes its connections, not the pool
            pids = list(pool._processes)
        assert pids and not any(_alive(p) for p in pids)


SCRIPT = """
import os, sys, time
from webglm import WebGLM
from webglm.config import load_config
from webglm.retriever.testing import PageServer
from webglm.testing import FakeSearchEngine, HashEncoder
from webglm.types import SearchHit
page = ("<html><head><title>Harbour</title></head><body><article><p>"
        + "The harbour shelters fishing boats and ferries all year round. " * 8 + "</p></article></body></html>")
with PageServer() as server:
    hits = [SearchHit(server.add(f"/h{i}", page), "Harbour", "", i, "fake") for i in range(6)]
    cfg = load_config(None, overrides={"fetch.allow_hosts": (f"127.0.0.1:{server.port}",),
                                       "fetch.extract_timeout": 30.0, "generate.backend": "echo"})
    glm = WebGLM(cfg, engine=FakeSearchEngine(hits), encoder=HashEncoder())
    glm.answer("Which harbour shelters ferries?")
    glm._workers._starter.join(60)
    glm.answer("Which harbour shelters boats?")
    print(" ".join(str(p) for p in glm._workers.pool()._processes), flush=True)
    if sys.argv[1] == "close":
        glm.close()
"""


@pytest.mark.parametrize("ending", ["close", "exit"])
def test_no_worker_outlives_the_process(tmp_path, ending):
    if workers_mod.usable_cpus() < 2:
        pytest.skip("auto uses threads on one CPU")
    script = tmp_path / "user_script.py"
    script.write_text(SCRIPT, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), ending], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    pids = [int(p) for p in done.stdout.split()]
    assert len(pids) >= 2
    deadline = time.monotonic() + 10  # orphans would be re-parented and keep running
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)


def test_the_server_stops_the_workers_when_it_shuts_down():
    if workers_mod.usable_cpus() < 2:
        pytest.skip("auto uses threads on one CPU")
    pytest.importorskip("uvicorn")
    import httpx

    from webglm.serve import create_app
    from webglm.serve.testing import running

    with PageServer() as pages:
        cfg = load_config(None, overrides={"fetch.allow_hosts": (f"127.0.0.1:{pages.port}",),
                                           "fetch.extract_timeout": 30.0, "generate.backend": "echo"})
        glm = WebGLM(cfg, engine=FakeSearchEngine(_serve(pages, 6)), encoder=HashEncoder())
        with running(create_app(glm), cfg.serve) as url:  # raises if the server does not stop
            r = httpx.post(f"{url}/v1/ask", json={"question": "Which harbour shelters ferries?"}, timeout=120)
            assert r.status_code == 200, r.text
            glm._workers._starter.join(60)
            pids = list(glm._workers.pool()._processes)
            assert pids and all(_alive(p) for p in pids)
    assert not any(_alive(p) for p in pids)


KILLED = """
import importlib, os, signal, sys
pools = importlib.import_module("webglm.retriever.pools")
pool = pools.lease_pool(2)
print(" ".join(str(p) for p in pool._processes), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_workers_exit_when_their_process_is_killed(tmp_path):
    # a worker blocks on a queue it holds both ends of: without its watch it would wait forever
    # (and, holding the script's stdout, keep this run waiting for the output until the timeout)
    script = tmp_path / "killed.py"
    script.write_text(KILLED, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == -9, done.stderr
    pids = [int(p) for p in done.stdout.split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 15
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids)
