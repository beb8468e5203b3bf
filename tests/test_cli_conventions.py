"""The command line's conventions, through real subprocesses of ``python -m webglm``: exit status
1 for a runtime failure and 2 for a usage error, one ``error:`` line (the traceback only under
``--debug``), ``--json`` on the commands that print results, eval's failure threshold and
``webglm retrieve``."""

import json
import os
import socket
import subprocess
import sys

import pytest

from _hostile import FAST, KETTLE, ROOT, cli, one_line_error
from webglm.retriever.testing import FakeSearchAPI, PageServer

QUESTION = "How long does the red kettle take to boil water?"


@pytest.fixture
def corpus(tmp_path):
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "kettle.txt").write_text(KETTLE * 3)
    return d


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- exit statuses ------------------------------------------------------------------------


def test_unreachable_engine_exits_1_naming_the_engine_and_the_fix(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}"
    for command in ("ask", "retrieve"):
        proc = cli(command, QUESTION, "--engine", "searxng", "--set", f"search.searxng_url={url}", *FAST,
                   cache=tmp_path / "cache")
        line = one_line_error(proc, status=1)
        assert "searxng" in line and url in line and "SEARXNG_URL" in line, line
        assert "--corpus" in line  # the other way out


def test_usage_errors_exit_2(tmp_path, corpus):
    proc = cli("ask", QUESTION, "--no-such-option", cache=tmp_path / "cache")
    assert proc.returncode == 2 and "No such option" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("ask", QUESTION, "--corpus", corpus, "--top-k", "many", cache=tmp_path / "cache")
    assert proc.returncode == 2 and "Invalid value" in proc.stderr
    proc = cli("eval", tmp_path / "missing.jsonl", "--out", tmp_path / "run", cache=tmp_path / "cache")
    assert "dataset not found" in one_line_error(proc)


# A real subprocess of the command line with one fault injected: loading the models fails in a
# way webglm did not anticipate (as an ONNX export or a broken install would).
_FAULTY = """
import sys
import webglm.pipeline

def broken(self):
    raise RuntimeError("the encoder export\\nfailed halfway")

webglm.pipeline.WebGLM.load = broken
sys.argv[0] = "webglm"
from webglm.cli import main
main()
"""


def _faulty(*args, env=None):
    full = {**os.environ, "HF_HUB_OFFLINE": "1"}
    full.pop("WEBGLM_DEBUG", None)
    full.update(env or {})
    return subprocess.run([sys.executable, "-c", _FAULTY, *args], cwd=ROOT, env=full, capture_output=True,
                          text=True, timeout=120)


def test_unexpected_error_is_one_line_and_debug_shows_the_traceback(corpus):
    args = ["ask", QUESTION, "--corpus", str(corpus), *FAST]
    line = one_line_error(_faulty(*args), status=1)
    assert line.startswith("error: unexpected RuntimeError: the encoder export failed halfway (")
    assert "--debug" in line
    for proc in (_faulty("--debug", *args), _faulty(*args, env={"WEBGLM_DEBUG": "1"})):
        assert proc.returncode == 1
        assert "Traceback (most recent call last)" in proc.stderr and "in broken" in proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith("error: unexpected RuntimeError")


# --- eval's failure threshold ---------------------------------------------------------------


def test_eval_fails_beyond_the_failed_fraction_but_writes_every_row(tmp_path, corpus):
    data = tmp_path / "qa.jsonl"
    rows = [{"id": f"q{i}", "question": QUESTION, "answer": ["four minutes"]} for i in range(3)]
    rows.append({"id": "long", "question": "kettle " * 400, "answer": ["x"]})  # refused: too long
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    proc = cli("eval", data, "--out", out, "--corpus", corpus, "--json", *FAST, cache=tmp_path / "cache")
    line = one_line_error(proc, status=1)
    assert "1 of 4 examples failed" in line and "--max-failed-fraction 0.1" in line
    written = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert sorted((r["id"], r["status"]) for r in written) == [("long", "failed"), ("q0", "ok"), ("q1", "ok"),
                                                               ("q2", "ok")]
    report = json.loads(proc.stdout)
    assert report == json.loads((out / "report.json").read_text())
    assert (report["n_examples"], report["n_failed"]) == (4, 1)
    proc = cli("eval", data, "--out", tmp_path / "run2", "--corpus", corpus, "--max-failed-fraction", "0.25",
               *FAST, cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "(1 failed)" in proc.stdout


# --- --json and webglm retrieve --------------------------------------------------------------


def test_index_build_and_info_print_json(tmp_path, corpus):
    out = tmp_path / "idx"
    (corpus / "blob.txt").write_bytes(b"\x00\x01binary")  # skipped, and reported as such
    proc = cli("index", "build", corpus, "--out", out, "--json", *FAST[:2], "-q", cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr[-2000:]
    built = json.loads(proc.stdout)
    assert built["out"] == str(out) and built["files_read"] == 1 and built["passages"] >= 1
    assert [s["url"].rsplit("/", 1)[-1] for s in built["skipped"]] == ["blob.txt"]
    proc = cli("index", "info", out, "--json", cache=tmp_path / "cache")
    assert proc.returncode == 0 and json.loads(proc.stdout)["count"] == built["passages"]
    (out / "meta.json").write_text("{not json")
    assert "not an index directory" in one_line_error(cli("index", "info", out, cache=tmp_path / "cache"))



def test_a_damaged_index_is_a_runtime_failure(tmp_path, corpus):
    # The command is right and the index was once good: exit 1 ("fix the environment"), not 2.
    out = tmp_path / "idx"
    proc = cli("index", "build", corpus, "--out", out, *FAST[:2], "-q", cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (out / "meta.json").write_text("{not json")
    proc = cli("retrieve", QUESTION, "--corpus", out, *FAST, cache=tmp_path / "cache")
    line = one_line_error(proc, status=1)
    assert "is corrupt" in line and "rebuild" in line, line

PAGE = ("<html><head><title>Bread</title></head><body><p>"
        + "Sourdough bread needs a starter culture of wild yeast and lactic bacteria. " * 8 + "</p></body></html>")


def test_retrieve_from_the_web_prints_ranked_references(tmp_path):
    with PageServer() as pages, FakeSearchAPI() as api:
        url = pages.add("/bread.html", PAGE)
        api.results = [{"url": url, "title": "Bread", "snippet": "starter"}]
        common = ["How is sourdough bread made?", "--engine", "searxng", "--set",
                  f"search.searxng_url={api.url}/searxng", "--allow-host", f"127.0.0.1:{pages.port}",
                  "--set", "rank.encoder=hash", "--set", "rank.min_score=0", "-q"]  # hash scores are low
        proc = cli("retrieve", *common, "--json", cache=tmp_path / "cache")
        assert proc.returncode == 0, proc.stderr[-2000:]
        got = json.loads(proc.stdout)
        text = cli("retrieve", *common, cache=tmp_path / "cache")
    assert got["question"] == "How is sourdough bread made?"
    first = got["references"][0]
    assert first["index"] == 1 and first["passage"]["url"] == url and isinstance(first["score"], float)
    assert "Sourdough bread needs a starter" in first["passage"]["text"]
    assert got["trace"]["counters"]["hits"] == 1 and "search" in got["trace"]["timings"]
    assert text.returncode == 0 and f"[1] score {first['score']:.3f}  Bread  <{url}>" in text.stdout
