"""`mypy webglm` stays clean under the configuration pinned in pyproject.toml ([tool.mypy])."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # a cold mypy run over the package takes minutes on two loaded cores
def test_mypy_webglm_is_clean():
    run = subprocess.run([sys.executable, "-m", "mypy", "webglm"], cwd=ROOT, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert "Success: no issues found" in run.stdout


def test_the_package_ships_its_type_marker():
    from webglm.compat import tomllib

    assert (ROOT / "webglm" / "py.typed").is_file()
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "py.typed" in data["tool"]["setuptools"]["package-data"]["webglm"]
    assert data["tool"]["mypy"]["python_version"] == "3.10"
    assert any(dep.startswith("mypy==") for dep in data["project"]["optional-dependencies"]["dev"])
