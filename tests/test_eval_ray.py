"""`webglm eval --ray` on a real local Ray runtime (2 CPUs, one per test module): the same rows
as a local run, and a resume after the driver is killed with SIGKILL, with no lost or
duplicated rows."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from webglm.config import GenerateConfig, WebGLMConfig  # noqa: E402
from webglm.errors import EvalError  # noqa: E402
from webglm.eval.cli_support import eval_command  # noqa: E402

from vllm_like import MODEL, VLLMLikeServer  # noqa: E402

pytestmark = pytest.mark.slow  # a Ray runtime takes ~10 s to start on two loaded cores
ROOT = Path(__file__).resolve().parents[1]
N = 24


@pytest.fixture(scope="module")
def runtime():
    """One local Ray runtime for the module; the drivers below connect to it by address."""
    os.environ["PYTHONPATH"] = str(ROOT)  # workers import this checkout, as the drivers do
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()  # stops the processes this init started, and only those


def _dataset(path: Path) -> Path:
    rows = []
    for i in range(N):
        rows.append({"id": f"ex{i:02d}", "question": f"What is thing {i} known for?",
                     "answer": f"Thing {i} is known for fact {i} [1].",
                     "references": [f"Thing {i} is known for fact {i}. It was found in {1900 + i}.",
                                    f"Unrelated text number {i}."]})
        if i % 7 == 3:  # the pipeline refuses questions this long: failed rows travel back too
            rows[-1]["question"] = "Why " + "very " * 500 + "long?"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _essence(row: dict) -> tuple:
    return (row["id"], row["status"], row["answer"], tuple(row.get("citations", ())),
            (row.get("error") or {}).get("type"), tuple(r["text"] for r in row.get("references", ())))


def test_ray_rows_and_report_equal_a_local_run(tmp_path, runtime):
    data = _dataset(tmp_path / "qa.jsonl")
    cfg = WebGLMConfig(generate=GenerateConfig(backend="echo"))
    common = dict(config=cfg, use_references="always", progress=False, resamples=50)
    local = eval_command(data, out_dir=tmp_path / "local", **common)
    distributed = eval_command(data, out_dir=tmp_path / "ray", ray_address=runtime, actors=2, **common)
    mine = sorted(map(_essence, _rows(tmp_path / "ray" / "results.jsonl")))
    assert mine == sorted(map(_essence, _rows(tmp_path / "local" / "results.jsonl")))
    assert len(mine) == N and sum(1 for r in mine if r[1] == "failed") == 3
    assert distributed.metrics == local.metrics and distributed.n_failed == local.n_failed == 3
    with pytest.raises(EvalError, match="--record"):
        eval_command(data, out_dir=tmp_path / "x", ray_address=runtime, record=True, cache=tmp_path / "c", **common)


def _driver(data: Path, out: Path, address: str, url: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "webglm", "eval", str(data), "--out", str(out), "--ray", address, "--actors", "2",
           "--concurrency", "2", "--use-references", "always", "-q", "--max-failed-fraction", "0.5",
           "--set", "generate.backend=openai", "--set", f"generate.base_url={url}",
           "--set", f"generate.model={MODEL}"]
    return subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_resume_after_sigkill_of_the_driver(tmp_path, runtime):
    data = _dataset(tmp_path / "qa.jsonl")
    out = tmp_path / "run"
    with VLLMLikeServer(delay=0.5).running() as server:
        first = _driver(data, out, runtime, server.url)
        results = out / "results.jsonl"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and first.poll() is None:
            if results.exists() and len(_rows(results)) >= 6:
                break
            time.sleep(0.05)
        assert first.poll() is None, first.communicate()[1][-2000:]
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        written = len(_rows(results))
        assert 6 <= written < N  # killed mid-run
        second = _driver(data, out, runtime, server.url)
        _stdout, err = second.communicate(timeout=180)
        assert second.returncode == 0, err[-2000:]
        cfg = WebGLMConfig(generate=GenerateConfig(backend="openai", base_url=server.url, model=MODEL))
        eval_command(data, out_dir=tmp_path / "local", config=cfg, use_references="always", progress=False,
                     resamples=50, concurrency=4)
    rows = _rows(results)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == N  # none lost, none duplicated
    assert sorted(map(_essence, rows)) == sorted(map(_essence, _rows(tmp_path / "local" / "results.jsonl")))
    report = json.loads((out / "report.json").read_text())
    assert report["run"]["resumed_rows"] == written
