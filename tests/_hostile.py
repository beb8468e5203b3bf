"""Helpers for the hostile-input tests: the real CLI in a real subprocess."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--set", "rank.encoder=hash", "--set", "generate.backend=echo", "-q"]
KETTLE = ("The red kettle boils water in four minutes on the small stove, "
          "and the blue kettle takes six minutes on the same stove.\n")


def cli(*args, env: dict | None = None, cache: Path | None = None, stdout=subprocess.PIPE,
        fsize: int | None = None, timeout: float = 120, drop_dac: bool = False) -> subprocess.CompletedProcess:
    """Run ``python -m webglm ARGS`` from the checkout; returns the finished process (text output).

    ``fsize`` caps the size of any file the process writes (RLIMIT_FSIZE with SIGXFSZ ignored,
    so writes fail with EFBIG the way they fail with ENOSPC on a full disk). ``drop_dac`` runs it
    without the capability that lets root read any file, so file modes apply.
    """
    full = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONIOENCODING": "utf-8", **(env or {})}
    for var in ("SEARXNG_URL", "BRAVE_API_KEY", "SERPAPI_API_KEY"):
        full.pop(var, None)
    if cache is not None:
        full["WEBGLM_CACHE"] = str(cache)
    argv = [sys.executable, "-m", "webglm", *map(os.fsdecode, args)]
    if drop_dac:
        argv = dac_dropped(argv)

    def limit() -> None:
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run(argv, cwd=ROOT, env=full, stdout=stdout, stderr=subprocess.PIPE, text=True,
                          timeout=timeout, preexec_fn=limit)


def dac_dropped(argv: list[str]) -> list[str]:
    """``argv`` run without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH when we are root."""
    if os.geteuid() != 0:
        return argv
    caps = "-dac_override,-dac_read_search"
    return [shutil.which("setpriv") or "setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", *argv]


def can_drop_dac() -> bool:
    """True when file modes can be made to apply to a child process."""
    return os.geteuid() != 0 or shutil.which("setpriv") is not None


def one_line_error(proc: subprocess.CompletedProcess, status: int = 2) -> str:
    """Assert the documented failure shape (exit ``status``: 2 for a usage error, 1 for a runtime
    failure; one ``error:`` line, no traceback) and return the line."""
    assert proc.returncode == status, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-2000:]
    return errors[0]
