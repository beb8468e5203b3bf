"""Hostile evaluation datasets and run folders: no lost rows, no tracebacks, no crashes on random bytes."""

from __future__ import annotations

import json

import pytest
from _hostile import KETTLE, cli, one_line_error
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from webglm.config import ChunkConfig
from webglm.errors import CorpusError, EvalError
from webglm.eval import load_dataset
from webglm.retriever import read_corpus

ECHO = ["--set", "rank.encoder=hash", "--set", "generate.backend=echo", "-q"]


@pytest.fixture
def corpus(tmp_path):
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "kettle.txt").write_text(KETTLE * 2)
    return d


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_suffixed_ids_never_collide(tmp_path):
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps({"id": i, "question": q, "answer": ["x"]}) + "\n" for i, q in
                            [("a", "How long does the red kettle take?"), ("a-2", "Which kettle is blue?"),
                             ("a", "What boils in four minutes?"), ("a", "Where is the stove?")]))
    ids = [ex.id for ex in load_dataset(data, "nq-open").examples]
    assert ids == ["a", "a-2", "a-3", "a-4"]


def test_colliding_ids_lose_no_row_across_a_resume(tmp_path, corpus):
    data = tmp_path / "qa.jsonl"
    questions = [("a", "How long does the red kettle take?"), ("a-2", "Which kettle is blue?"),
                 ("a", "What boils in four minutes?")]
    data.write_text("".join(json.dumps({"id": i, "question": q, "answer": ["four minutes"]}) + "\n"
                            for i, q in questions))
    out = tmp_path / "run"
    for _ in range(2):  # the second run resumes (and compacts) the same folder
        proc = cli("eval", data, "--out", out, "--corpus", corpus, *ECHO, cache=tmp_path / "cache")
        assert proc.returncode == 0, proc.stderr[-2000:]
        rows = _rows(out / "results.jsonl")
        assert sorted(r["id"] for r in rows) == ["a", "a-2", "a-3"]
        assert {r["question"] for r in rows} == {q for _i, q in questions}
    assert json.loads((out / "report.json").read_text())["n_examples"] == 3


def test_non_utf8_dataset_is_one_line_or_a_skipped_row(tmp_path, corpus):
    data = tmp_path / "qa.jsonl"
    data.write_bytes(b'{"question": "How long does the red kettle take?", "answer": ["four"]}\n'
                     b'{"question": "caf\xe9 kettle?", "answer": ["six"]}\n')
    proc = cli("eval", data, "--format", "nq-open", "--out", tmp_path / "r1", "--corpus", corpus, *ECHO,
               cache=tmp_path / "cache")
    line = one_line_error(proc)
    assert "line 2" in line and "not valid UTF-8" in line
    proc = cli("eval", data, "--format", "nq-open", "--out", tmp_path / "r2", "--corpus", corpus, "--skip-bad-rows",
               *ECHO, cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(_rows(tmp_path / "r2" / "results.jsonl")) == 1


def test_non_utf8_first_line_and_question_list(tmp_path, corpus):
    first = tmp_path / "first.jsonl"
    first.write_bytes(b'{"question": "caf\xe9?", "answer": ["x"]}\n')
    lines = tmp_path / "questions.txt"
    lines.write_bytes(b"How long does the red kettle take?\ncaf\xe9 kettle?\n")
    for data in (first, lines):
        proc = cli("eval", data, "--out", tmp_path / data.stem, "--corpus", corpus, *ECHO, cache=tmp_path / "cache")
        assert "not valid UTF-8" in one_line_error(proc)


def test_corrupt_run_manifest(tmp_path, corpus):
    data = tmp_path / "qa.jsonl"
    data.write_text(json.dumps({"question": "How long does the red kettle take?", "answer": ["four"]}) + "\n")
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text('{"dataset": "qa", "fmt"')
    proc = cli("eval", data, "--out", out, "--corpus", corpus, *ECHO, cache=tmp_path / "cache")
    assert "run.json is corrupt" in one_line_error(proc)


def test_out_folder_that_is_a_file(tmp_path, corpus):
    data = tmp_path / "qa.jsonl"
    data.write_text(json.dumps({"question": "How long does the red kettle take?", "answer": ["four"]}) + "\n")
    (tmp_path / "taken").write_text("x")
    proc = cli("eval", data, "--out", tmp_path / "taken", "--corpus", corpus, *ECHO, cache=tmp_path / "cache")
    assert "is a file" in one_line_error(proc)


# --- fuzzing: random bytes never crash a loader or the corpus reader ------------------------
# 6,000 + 4,000 examples: the 10^4 the acceptance asks for, in one CI run.


def _fuzz(n: int):
    return settings(max_examples=n, deadline=None, database=None, derandomize=True,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink],
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _spliced(seeds: list[bytes], junk: int, cut: int):
    """Random bytes, or random bytes spliced into a plausible input so parsing gets past byte 1."""
    return st.one_of(st.binary(max_size=400),
                     st.builds(lambda seed, noise, at: seed[:at] + noise + seed[at:], st.sampled_from(seeds),
                               st.binary(max_size=junk), st.integers(0, cut)))


_ROWS = [b'{"question": "q", "answer": ["a"]}\n', b'{"qText": "q", "answers": ["a"]}\n',
         b'{"question": "q", "answer": "a [1]", "references": ["r"]}\n', b'[{"qText": "q", "answers": ["a"]}]',
         b'{"question": {"full_text": "q"}, "answer_0": "a", "answer_1": "b", "score_0": 1, "score_1": -1}\n',
         b'<posts><row Id="1" PostTypeId="1" Title="t" Body="b"/></posts>', b"question one\n",
         b'{"data": [{"title": "t", "paragraphs": [{"context": "c", "qas": [{"id": "1", "question": "q", '
         b'"answers": [{"text": "c", "answer_start": 0}]}]}]}]}']
LOADERS = [("nq-open", ".jsonl"), ("webquestions", ".json"), ("webglm-qa", ".jsonl"), ("webgpt", ".jsonl"),
           ("eli5", ".txt"), ("eli5", ".jsonl"), ("stackexchange", ".xml"), ("squad", ".json"), ("auto", ".jsonl"),
           ("auto", ".json")]


def test_fuzz_dataset_loaders(tmp_path):
    @_fuzz(6000)
    @given(data=_spliced(_ROWS, 40, 60), loader=st.sampled_from(LOADERS), skip=st.booleans())
    def check(data, loader, skip):
        fmt, suffix = loader
        path = tmp_path / f"data{suffix}"
        path.write_bytes(data)
        try:
            load_dataset(path, fmt, skip_bad_rows=skip)
        except EvalError:
            pass

    check()


_DOCS = [b"# Title\n\nSome text about kettles and stoves for the corpus reader.\n",
         b"<html><head><title>t</title></head><body><div><p>kettle text here</p></div></body></html>",
         b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF",
         b"\xff\xfeT\x00i\x00t\x00l\x00e\x00\n\x00",
         b"# Long notes\n\n" + b"The kettle boils in four minutes on the stove. " * 60]  # > 2 KiB


def test_fuzz_corpus_reader(tmp_path):
    @_fuzz(4000)
    @given(data=_spliced(_DOCS, 60, 3000), suffix=st.sampled_from([".txt", ".md", ".rst", ".html", ".pdf"]))
    def check(data, suffix):
        path = tmp_path / f"doc{suffix}"
        path.write_bytes(data)
        try:
            docs = read_corpus([path], ChunkConfig())
        except CorpusError:
            return
        finally:
            path.unlink()
        assert all("\x00" not in p.text for p in docs.passages)

    check()
