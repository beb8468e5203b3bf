"""A third-party package adds a search engine and a generator backend through entry points.

The plugin is the one docs/library.md shows: its files are read from that page, installed into
a throwaway virtual environment that sees this one's packages, and used by name from
``python -m webglm`` in a subprocess, against a loopback search API and page server.
"""

import json
import os
import re
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from webglm.retriever.testing import PageServer

ROOT = Path(__file__).resolve().parents[1]
PAGE = ("<html><head><title>Green tea</title></head><body><article><h1>Green tea</h1>"
        "<p>Green tea is made from leaves that are steamed soon after picking, which stops oxidation "
        "and keeps the leaves green.</p><p>The leaves are then rolled and dried, and sencha is the most "
        "common green tea made this way in Japan.</p></article></body></html>")


def plugin_files() -> dict[str, str]:
    """The files docs/library.md marks with ``<!-- plugin-file: NAME -->``."""
    text = (ROOT / "docs" / "library.md").read_text(encoding="utf-8")
    found = re.findall(r"<!-- plugin-file: (\S+) -->\n```\w*\n(.*?)```", text, re.S)
    assert {name for name, _ in found} == {"pyproject.toml", "webglm_demo_plugin.py"}
    return dict(found)


def make_venv(tmp: Path, plugin: Path) -> Path:
    """A venv created with --system-site-packages, also seeing the test environment's packages
    (a .pth file: the test environment may itself be a venv), with the plugin installed."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    parents = [*site.getsitepackages(), sysconfig.get_paths()["purelib"]]
    Path(purelib, "test-environment.pth").write_text("\n".join(dict.fromkeys(parents)) + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", str(plugin)], check=True, timeout=300, capture_output=True)
    return python


@pytest.mark.slow
def test_plugin_engine_and_backend_installed_by_entry_points(tmp_path):
    plugin = tmp_path / "webglm-demo-plugin"
    plugin.mkdir()
    for name, body in plugin_files().items():
        (plugin / name).write_text(body)
    # a second engine whose module does not exist: reported, and the rest still works
    pyproject = plugin / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        '[project.entry-points."webglm.search_engines"]\n',
        '[project.entry-points."webglm.search_engines"]\nbroken = "webglm_no_such_module:Engine"\n'))
    python = make_venv(tmp_path, plugin)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WEBGLM_CACHE": str(tmp_path / "cache")}
    with PageServer() as server:
        url = server.add("/tea", PAGE)
        server.add("/search", json.dumps({"results": [{"url": url, "title": "Green tea", "snippet": ""}]}),
                   ctype="application/json")
        env["DEMO_SEARCH_URL"] = server.url
        run = subprocess.run(
            [str(python), "-m", "webglm", "ask", "--engine", "demo-search", "--backend", "demo-quote",
             "--allow-host", f"127.0.0.1:{server.port}", "--json", "How is green tea made?"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        searched = [path for _m, path, _h in server.requests if path.startswith("/search")]
    answer = json.loads(run.stdout)
    assert searched, "the plugin's engine never called the search API"
    assert answer["trace"]["models"]["generator"] == "demo-quote"
    assert answer["references"][0]["passage"]["url"] == url
    assert answer["text"].startswith("Green tea is made from leaves that are steamed soon after picking")
    assert answer["text"].rstrip().endswith("[1].")
    assert "fallback" not in " ".join(answer["trace"]["events"])

    listed = subprocess.run([str(python), "-m", "webglm", "plugins", "--json"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr[-3000:]
    rows = {(r["kind"], r["name"]): r for r in json.loads(listed.stdout)["plugins"]}
    assert rows[("search engine", "demo-search")]["origin"] == "webglm-demo-plugin"
    assert rows[("search engine", "demo-search")]["status"] == "ok"
    assert rows[("generator backend", "demo-quote")]["status"] == "ok"
    assert "ModuleNotFoundError" in rows[("search engine", "broken")]["status"]
    assert rows[("generator backend", "echo")]["origin"] == "webglm"
