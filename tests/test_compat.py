"""Python 3.10 support: with ``tomllib`` and ``asyncio.timeout`` missing (as on 3.10), the
package imports, reads a TOML config through ``tomli`` and times out through ``async-timeout``."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runs in a fresh interpreter: hide the 3.11 features before webglm is imported.
PY310 = r"""
import asyncio, json, sys
sys.modules["tomllib"] = None      # import tomllib now raises ImportError, as on 3.10
del asyncio.timeout
import webglm
from webglm import compat

cfg = webglm.load_config(sys.argv[1], environ={})

async def slow():
    try:
        async with compat.timeout(0.05):
            await asyncio.sleep(5)
    except asyncio.TimeoutError:
        return "timed out"

try:
    webglm.load_config(sys.argv[2], environ={})
    bad = ""
except webglm.ConfigError as exc:
    bad = str(exc)
print(json.dumps({"toml": compat.tomllib.__name__, "timeout": compat.timeout.__module__,
                  "top_k": cfg.rank.top_k, "engine": cfg.search.engine, "slow": asyncio.run(slow()), "bad": bad}))
"""


def test_config_and_timeouts_without_the_311_standard_library(tmp_path):
    good, bad = tmp_path / "webglm.toml", tmp_path / "bad.toml"
    good.write_text('[rank]\ntop_k = 3\n[search]\nengine = "searxng"\n', encoding="utf-8")
    bad.write_text("[rank\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", PY310, str(good), str(bad)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["toml"] == "tomli" and got["timeout"].startswith("async_timeout")
    assert (got["top_k"], got["engine"], got["slow"]) == (3, "searxng", "timed out")
    assert got["bad"].startswith(f"config file {bad} is not valid TOML")
