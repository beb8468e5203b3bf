"""A run killed with SIGKILL at several points and restarted ends with exactly the rows of an
uninterrupted run: every id once, none lost, none duplicated, same answers.

The child process is this file run as a script (see ``__main__`` below).
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from webglm.eval.baselines import ExtractiveAnswerer
from webglm.eval.runner import RunOptions, run_eval

N = 60


def make_dataset(path: Path) -> Path:
    rows = []
    for i in range(N):
        topic = f"topic{i}"
        rows.append({"id": f"ex{i:03d}", "question": f"What is {topic} known for?",
                     "answer": f"{topic} is known for fact {i} [1].",
                     "references": [f"{topic} is known for fact {i}. It was found in {1900 + i}.",
                                    f"Unrelated text number {i}."]})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def slow_answerer(delay: float):
    base = ExtractiveAnswerer(sentences=1)

    async def answer(example):
        await asyncio.sleep(delay)
        if int(example.id[2:]) % 7 == 3:  # deterministic per-example failures become rows too
            raise RuntimeError(f"planned failure for {example.id}")
        return await base(example)

    return answer


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _essence(row: dict) -> tuple:
    return (row["id"], row["status"], row["answer"], tuple(row.get("citations", ())),
            (row.get("error") or {}).get("type"))


def _child(data: Path, out: Path, delay: float) -> subprocess.Popen:
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root))
    return subprocess.Popen([sys.executable, __file__, str(data), str(out), str(delay)], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for_rows(results: Path, at_least: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if results.exists() and results.read_bytes().count(b"\n") >= at_least:
            return
        if proc.poll() is not None:
            raise AssertionError(f"child exited early: {proc.stderr.read().decode()}")
        time.sleep(0.005)
    raise AssertionError("child made no progress")


def test_sigkill_mid_run_then_resume_equals_uninterrupted_run(tmp_path):
    data = make_dataset(tmp_path / "qa.jsonl")
    clean = run_eval(data, out_dir=tmp_path / "clean", answer_fn=slow_answerer(0.0),
                     options=RunOptions(concurrency=3, progress=False, resamples=50))
    expected = sorted(_essence(r) for r in _rows(tmp_path / "clean" / "results.jsonl"))
    assert len(expected) == N and clean.n_failed == sum(1 for i in range(N) if i % 7 == 3)

    out = tmp_path / "killed"
    results = out / "results.jsonl"
    for kill_at in (1, 9, 23, 41):  # kill after this many rows are on disk
        proc = _child(data, out, 0.01)
        _wait_for_rows(results, kill_at, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        done = results.read_bytes().count(b"\n")
        assert done < N, "the run finished before it could be killed"
    proc = _child(data, out, 0.0)
    assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()

    rows = _rows(results)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == N  # exactly one row per id
    assert sorted(_essence(r) for r in rows) == expected
    report = json.loads((out / "report.json").read_text())
    assert report["n_examples"] == N and report["metrics"]["rouge_l"]["mean"] == clean.metrics["rouge_l"].mean


if __name__ == "__main__":  # the child process of the test above
    data_arg, out_arg, delay_arg = sys.argv[1:4]
    run_eval(data_arg, out_dir=out_arg, answer_fn=slow_answerer(float(delay_arg)),
             options=RunOptions(concurrency=3, progress=False, resamples=50))
