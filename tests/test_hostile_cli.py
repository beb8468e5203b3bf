"""The CLI under hostile input: one ``error:`` line and exit status 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from _hostile import FAST, KETTLE, cli, one_line_error

from webglm.config import GenerateConfig, load_config
from webglm.errors import ConfigError, ModelError
from webglm.generator import make_backend

QUESTION = "How long does the red kettle take to boil?"


@pytest.fixture
def corpus(tmp_path):
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "kettle.txt").write_text(KETTLE * 3)
    return d


# --- remote code in model folders ---------------------------------------------------

EVIL = """import os
with open(os.environ["WEBGLM_TEST_MARKER"], "a") as fh:
    fh.write("ran {}\\n".format(__name__))
"""


@pytest.fixture
def evil_model(tmp_path, monkeypatch):
    """A model folder whose config maps to its own Python modules; running them writes a marker."""
    d = tmp_path / "evilmodel"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({
        "model_type": "evil", "architectures": ["EvilForCausalLM"],
        "auto_map": {"AutoConfig": "configuration_evil.EvilConfig",
                     "AutoTokenizer": ["tokenization_evil.EvilTokenizer", None],
                     "AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}}))
    (d / "tokenizer_config.json").write_text(json.dumps({"auto_map": {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}}))
    for name in ("configuration_evil", "tokenization_evil", "modeling_evil"):
        (d / f"{name}.py").write_text(EVIL)
    marker = tmp_path / "marker.txt"
    monkeypatch.setenv("WEBGLM_TEST_MARKER", str(marker))
    return d, marker


def test_model_code_does_not_run_without_consent(evil_model):
    folder, marker = evil_model
    backend = make_backend(GenerateConfig(backend="transformers", model=str(folder)))
    with pytest.raises(ModelError, match="ships its own Python code") as err:
        backend.load()
    assert "generate.trust_remote_code=true" in err.value.hint
    assert not marker.exists()


def test_model_code_refusal_through_the_cli(evil_model, corpus, tmp_path):
    folder, marker = evil_model
    proc = cli("ask", QUESTION, "--corpus", corpus, "--backend", "transformers", "--model", folder,
               "--set", "rank.encoder=hash", "-q", "--no-stream", cache=tmp_path / "cache",
               env={"WEBGLM_TEST_MARKER": str(marker)})
    line = one_line_error(proc, status=1)  # a model that cannot be loaded: a runtime failure
    assert "ships its own Python code" in line and "generate.trust_remote_code" in line
    assert not marker.exists()


def test_trust_remote_code_is_a_setting():
    assert load_config(overrides={"generate.trust_remote_code": "true"}).generate.trust_remote_code is True
    assert load_config().generate.trust_remote_code is False


# --- settings and config files ----------------------------------------------------------


@pytest.mark.parametrize("setting", ["rank.min_score", "generate.citation_threshold", "rank.dense_weight",
                                     "generate.temperature", "fetch.page_timeout"])
def test_nan_is_rejected_for_float_settings(setting):
    with pytest.raises(ConfigError, match="finite"):
        load_config(overrides={setting: "nan"})


def test_nan_through_flags_and_environment(corpus, tmp_path):
    for args, env in ((["--set", "rank.min_score=nan"], None),
                      (["--set", "generate.citation_threshold=nan"], None),
                      ([], {"WEBGLM_RANK__MIN_SCORE": "nan"})):
        proc = cli("ask", QUESTION, "--corpus", corpus, *FAST, *args, cache=tmp_path / "cache", env=env)
        assert "must be a finite number" in one_line_error(proc)


def test_non_utf8_or_directory_config(corpus, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"[rank]\ntop_k = 3 # caf\xe9\n")
    for config, expect in ((bad, "not UTF-8"), (tmp_path, "is a directory")):
        proc = cli("ask", QUESTION, "--corpus", corpus, "--config", config, *FAST, cache=tmp_path / "cache")
        assert expect in one_line_error(proc)


# --- arguments -----------------------------------------------------------------------


def test_empty_corpus_argument_does_not_index_the_working_folder(tmp_path):
    proc = cli("ask", QUESTION, "--corpus", "", *FAST, cache=tmp_path / "cache")
    assert "corpus path is empty" in one_line_error(proc)
    assert not (tmp_path / "cache" / "corpora").exists()


def test_invalid_utf8_in_the_question(corpus, tmp_path):
    proc = cli("ask", b"what is \xff kettle?", "--corpus", corpus, *FAST, cache=tmp_path / "cache")
    assert "not valid UTF-8 (byte 0xff" in one_line_error(proc)


def test_deep_tree_through_the_cli(tmp_path):
    root = d = tmp_path / "deep"
    root.mkdir()
    for _ in range(1000):
        d = d / "d"
        d.mkdir()
    (d / "kettle.txt").write_text(KETTLE)
    try:
        proc = cli("index", "build", root, "--out", tmp_path / "idx", *FAST[:2], "-q", cache=tmp_path / "cache")
    finally:  # pytest's recursive clean-up cannot remove this tree
        (d / "kettle.txt").unlink()
        while d != tmp_path:
            d.rmdir()
            d = d.parent
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "from 1 files" in proc.stdout


# --- index output and full disks ---------------------------------------------------------


def test_out_that_is_a_file(corpus, tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    proc = cli("index", "build", corpus, "--out", target, *FAST[:2], "-q", cache=tmp_path / "cache")
    assert "is not a directory" in one_line_error(proc)
    assert target.read_text() == "not a folder"


def test_full_disk_while_building_an_index(corpus, tmp_path):
    out = tmp_path / "idx"
    proc = cli("index", "build", corpus, "--out", out, *FAST[:2], "-q", fsize=600, cache=tmp_path / "cache")
    assert "cannot write the index to" in one_line_error(proc, status=1)
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs: a real full disk (needs the right to mount, as root in a container)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (mnt / "filler").write_bytes(b"\0" * 60_000)  # leave a few KiB: the entry folder fits, its files do not
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_full_cache_disk_still_answers(corpus, tmp_path, tiny_disk):
    (corpus / "more.txt").write_text("".join(f"Stove note {i}: the kettle rests on ring {i}.\n" for i in range(60)))
    proc = cli("ask", QUESTION, "--corpus", corpus, "--set", "rank.encoder=hash", "--set", "generate.backend=echo",
               "--no-stream", cache=tiny_disk / "cache")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "could not cache the index" in proc.stderr and "No space left on device" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "red kettle" in proc.stdout
    entry = next((tiny_disk / "cache" / "corpora").iterdir())
    assert not [p.name for p in entry.iterdir() if p.name.endswith(".tmp")]


# --- output streams -------------------------------------------------------------------------


def test_closed_stdout_pipe(corpus, tmp_path):
    read, write = os.pipe()
    os.close(read)  # nobody will read: every write fails with EPIPE
    try:
        proc = cli("ask", QUESTION, "--corpus", corpus, *FAST, "--json", stdout=write, cache=tmp_path / "cache")
    finally:
        os.close(write)
    assert "broken pipe" in one_line_error(proc, status=1)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_stdout_on_a_full_device(corpus, tmp_path):
    with open("/dev/full", "w") as full:
        proc = cli("ask", QUESTION, "--corpus", corpus, *FAST, "--stream", stdout=full, cache=tmp_path / "cache")
    assert "cannot write the output" in one_line_error(proc, status=1)
