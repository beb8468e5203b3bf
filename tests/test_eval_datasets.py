import json

import pytest

from webglm.errors import EvalError
from webglm.eval.datasets import Fields, detect_format, load_dataset, question_id
from webglm.eval.stackexchange import load_stackexchange


def _jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


# --- shared data -----------------------------------------------------------------


def test_webglm_400_subsets(shared_data):
    nq = load_dataset(shared_data / "qa" / "webglm_nq_open_400.jsonl")
    wq = load_dataset(shared_data / "qa" / "webglm_web_questions_400.jsonl")
    assert (nq.fmt, nq.kind, len(nq), len(wq)) == ("nq-open", "short", 400, 400)
    first = nq.examples[0]
    assert first.question == "the era of the great mughals began with the accession of"
    assert first.answers == ("Akbar the Great", "Babur")
    assert first.id == question_id(first.question)
    assert len({e.id for e in nq.examples}) == 400


def test_nq_open_dev_and_webquestions_json(shared_data):
    dev = load_dataset(shared_data / "qa" / "NQ-open.dev.jsonl", limit=50)
    assert len(dev) == 50 and all(e.answers for e in dev.examples)
    wq = load_dataset(shared_data / "qa" / "webquestions_test.json")
    assert wq.fmt == "webquestions" and len(wq) == 2032
    assert wq.examples[0].id == "wqs000000"
    assert wq.examples[0].answers == ("Jamaican Creole English Language", "Jamaican English")


def test_ids_are_stable_across_loads(shared_data):
    a = load_dataset(shared_data / "qa" / "webglm_nq_open_400.jsonl")
    b = load_dataset(shared_data / "qa" / "webglm_nq_open_400.jsonl")
    assert [e.id for e in a.examples] == [e.id for e in b.examples]


def test_stackexchange_dump(shared_data):
    ds = load_dataset(shared_data / "stackexchange" / "beer.stackexchange.com_Posts.xml")
    assert ds.fmt == "stackexchange" and ds.kind == "long" and len(ds) > 300
    ex = ds.examples[0]
    assert ex.id == "beer.stackexchange.com:1"
    assert ex.question == "What is a citra hop, and how does it differ from other hops?"
    assert ex.meta["url"] == "https://beer.stackexchange.com/q/1" and "CC BY-SA" in ex.meta["licence"]
    assert all("<p>" not in a for e in ds.examples for a in e.answers)
    assert all(1 <= len(e.answers) <= 3 for e in ds.examples)


# --- synthetic files ---------------------------------------------------------------


_POSTS = """<?xml version="1.0" encoding="utf-8"?>
<posts>
  <row Id="1" PostTypeId="1" AcceptedAnswerId="3" Score="5" Title="Why is the sky blue?" Body="&lt;p&gt;Asking &lt;b&gt;why&lt;/b&gt;.&lt;/p&gt;" />
  <row Id="2" PostTypeId="2" ParentId="1" Score="10" Body="&lt;p&gt;High score answer.&lt;/p&gt;" />
  <row Id="3" PostTypeId="2" ParentId="1" Score="2" Body="&lt;p&gt;Rayleigh scattering.&lt;/p&gt;&lt;p&gt;Second para.&lt;/p&gt;" />
  <row Id="4" PostTypeId="2" ParentId="1" Score="0" Body="&lt;p&gt;Low score.&lt;/p&gt;" />
  <row Id="5" PostTypeId="1" Score="1" Title="Unanswered?" Body="" />
  <row Id="6" PostTypeId="1" Score="1" Title="Closed one" Body="" ClosedDate="2020-01-01" />
  <row Id="7" PostTypeId="2" ParentId="6" Score="3" Body="x" />
</posts>
"""


def test_stackexchange_gold_order_and_filters(tmp_path):
    path = tmp_path / "sky.example.com_Posts.xml"
    path.write_text(_POSTS, encoding="utf-8")
    ds = load_stackexchange(path, with_body=True)
    assert [e.id for e in ds.examples] == ["sky.example.com:1"]  # unanswered and closed left out
    ex = ds.examples[0]
    assert ex.answers == ("Rayleigh scattering.\nSecond para.", "High score answer.")  # accepted first, score<1 dropped
    assert ex.question == "Why is the sky blue?\nAsking why."
    assert len(load_stackexchange(path, include_closed=True)) == 2


def test_stackexchange_bad_xml_names_file(tmp_path):
    path = tmp_path / "x_Posts.xml"
    path.write_text("<posts><row Id='1' PostTypeId='1' Title='t'></posts>", encoding="utf-8")
    with pytest.raises(EvalError, match="x_Posts.xml"):
        load_dataset(path)


def test_gold_answers_are_one_paragraph_per_line(tmp_path):
    body = "&lt;p&gt;a &amp;amp; b&lt;/p&gt;&lt;ul&gt;&lt;li&gt;one&lt;/li&gt;&lt;li&gt;two&lt;/li&gt;&lt;/ul&gt;"
    path = tmp_path / "x_Posts.xml"
    path.write_text(f'<posts><row Id="1" PostTypeId="1" Title="Q?" Body="" Score="1" />'
                    f'<row Id="2" PostTypeId="2" ParentId="1" Score="3" Body="{body}" /></posts>')
    (ex,) = load_stackexchange(path).examples
    assert ex.answers == ("a & b\n- one\n- two",)


def test_webglm_qa_loader(tmp_path):
    path = _jsonl(tmp_path / "qa.jsonl", [
        {"question": "Why do cats purr?", "answer": "They purr when content [1]. Also when hurt [2].",
         "references": ["Cats purr when content.", "Cats also purr when hurt."]},
    ])
    ds = load_dataset(path)
    assert (ds.fmt, ds.kind) == ("webglm-qa", "long")
    ex = ds.examples[0]
    assert [r.index for r in ex.references] == [1, 2]
    assert ex.references[1].passage.text == "Cats also purr when hurt."
    assert ex.meta["gold_citations"] == [1, 2]


def test_webglm_qa_rejects_citation_past_references(tmp_path):
    path = _jsonl(tmp_path / "qa.jsonl", [{"question": "q?", "answer": "a [3]", "references": ["r1"]}])
    with pytest.raises(EvalError, match=r"qa.jsonl:line 1.*cites \[3\]"):
        load_dataset(path, "webglm-qa")


def test_webgpt_comparisons(tmp_path):
    row = {"question": {"full_text": "How do tides work?", "id": "abc", "dataset": "eli5"},
           "quotes_0": {"title": [], "extract": []}, "answer_0": "The moon pulls water.", "score_0": 1.0,
           "quotes_1": {"title": [], "extract": []}, "answer_1": "Wind.", "score_1": -1.0}
    tie = dict(row, question={"full_text": "Tie?"}, score_0=0.0, score_1=0.0)
    ds = load_dataset(_jsonl(tmp_path / "comparisons.jsonl", [row, tie]))
    assert ds.fmt == "webgpt"
    assert ds.examples[0].id == "abc" and ds.examples[0].answers == ("The moon pulls water.",)
    assert ds.examples[0].meta["score_1"] == -1.0
    assert ds.examples[1].answers == ("The moon pulls water.", "Wind.")


def test_eli5_text_and_jsonl(tmp_path):
    txt = tmp_path / "questions.txt"
    txt.write_text("# comment\nWhy is ice slippery?\n\nHow do magnets work?\n", encoding="utf-8")
    ds = load_dataset(txt)
    assert (ds.fmt, ds.kind, [e.question for e in ds.examples]) == \
        ("eli5", "none", ["Why is ice slippery?", "How do magnets work?"])
    rows = [{"q_id": "e1", "title": "ELI5: gravity", "selftext": "", "answers": {"text": ["Mass bends space."]}}]
    ds2 = load_dataset(_jsonl(tmp_path / "eli5.jsonl", rows), "eli5")
    assert ds2.kind == "long" and ds2.examples[0].answers == ("Mass bends space.",)


def test_generic_jsonl_with_dotted_fields(tmp_path):
    rows = [{"qid": 7, "q": {"text": "Capital of France?"}, "gold": ["Paris"], "ctx": ["Paris is the capital."]}]
    f = Fields(question="q.text", answers="gold", id="qid", references="ctx")
    ds = load_dataset(_jsonl(tmp_path / "g.jsonl", rows), "jsonl", fields=f)
    ex = ds.examples[0]
    assert (ex.id, ex.question, ex.answers) == ("7", "Capital of France?", ("Paris",))
    assert ex.references[0].passage.text == "Paris is the capital."


def test_malformed_row_error_names_file_and_line(tmp_path):
    path = _jsonl(tmp_path / "nq.jsonl", [{"question": "ok?", "answer": ["x"]}, "{not json", {"question": "q"}])
    with pytest.raises(EvalError, match=r"nq.jsonl:line 2: invalid JSON"):
        load_dataset(path, "nq-open")


def test_skip_bad_rows_records_them(tmp_path):
    path = _jsonl(tmp_path / "nq.jsonl", [{"question": "ok?", "answer": ["x"]}, "{not json",
                                          {"question": "q", "answer": []}, [1, 2]])
    ds = load_dataset(path, "nq-open", skip_bad_rows=True)
    assert len(ds) == 1
    assert [f.detail.split(":")[0] for f in ds.skipped] == ["line 2", "line 3", "line 4"]
    assert all(f.kind == "bad_row" and f.url.endswith("nq.jsonl") for f in ds.skipped)


def test_duplicate_questions_get_distinct_stable_ids(tmp_path):
    path = _jsonl(tmp_path / "nq.jsonl", [{"question": "same?", "answer": ["a"]}] * 3)
    ids = [e.id for e in load_dataset(path).examples]
    base = question_id("same?")
    assert ids == [base, f"{base}-2", f"{base}-3"]


def test_detect_and_bad_inputs(tmp_path):
    assert detect_format(_jsonl(tmp_path / "a.jsonl", [{"qText": "q", "answers": ["a"]}])) == "webquestions"
    with pytest.raises(EvalError, match="not found"):
        load_dataset(tmp_path / "missing.jsonl")
    with pytest.raises(EvalError, match="unknown dataset format"):
        load_dataset(tmp_path / "a.jsonl", "csv")
    with pytest.raises(EvalError, match="cannot detect"):
        load_dataset(_jsonl(tmp_path / "b.jsonl", [{"foo": 1}]))


def test_hf_format_is_local_only(tmp_path):
    # Without `datasets` installed: a clear error; with it: an empty folder is no saved dataset.
    with pytest.raises(EvalError, match="datasets|not a saved"):
        load_dataset(tmp_path, "hf")


def test_fields_reject_an_unknown_answer_kind():
    from webglm.errors import EvalError
    from webglm.eval.datasets import Fields

    with pytest.raises(EvalError, match="unknown answer kind 'shrot'"):
        Fields(kind="shrot")
