"""The one Stack Exchange reader and HTML-to-text conversion, and the three stages that use it."""

import json

import pytest

from webglm.contriever.data import load_stackexchange as retriever_site
from webglm.errors import EvalError, InputError
from webglm.eval.stackexchange import load_stackexchange as eval_dataset
from webglm.scorer.data import StackExchangeRecipe, build_stackexchange_pairs
from webglm.stackexchange import html_to_text, iter_rows, read_posts, site_name

BODY = ('<p>Use <b>Citra</b> &amp; <a href="https://hops.example/citra">Mosaic</a>.<br>Dry hop late.</p>'
        '<ul><li><p>one</p></li><li>two</li></ul><img src="x.png"><pre><code>ratio  =  2 &lt; 3\n</code></pre>')


def _attr(html: str) -> str:
    return html.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _dump(tmp_path, rows):
    path = tmp_path / "beer_Posts.xml"
    path.write_text("<posts>" + "".join(rows) + "</posts>", encoding="utf-8")
    return path


def test_html_to_text_keeps_structure_and_optionally_the_cues():
    text = html_to_text(BODY)
    assert text.startswith("Use Citra & Mosaic (https://hops.example/citra).\nDry hop late.")
    assert "- one" in text and "- two" in text and "[image]" in text
    assert "ratio  =  2 < 3" in text  # code keeps its spacing, entities decoded
    plain = html_to_text(BODY, cues=False)
    assert "https://" not in plain and "[image]" not in plain and "Mosaic." in plain
    assert "\n\n\n" not in plain


def test_read_posts_and_rows(tmp_path):
    path = _dump(tmp_path, [
        '<row Id="1" PostTypeId="1" Title="Which hop &amp;#39;s best?" Body="" Score="2" AcceptedAnswerId="3" '
        'ClosedDate="2020-01-01" />',
        '<row Id="2" PostTypeId="5" Body="tag wiki" />',
        f'<row Id="3" PostTypeId="2" ParentId="1" Score="4" Body="{_attr(BODY)}" CreationDate="2020-02-02" />',
    ])
    assert site_name(path) == "beer" and [n for n, _ in iter_rows(path)] == [1, 2, 3]
    q, a = read_posts(path)
    assert (q.kind, q.title, q.accepted, q.closed) == ("question", "Which hop 's best?", "3", True)
    assert (a.kind, a.parent, a.score, a.created) == ("answer", "1", 4, "2020-02-02")
    assert a.text == html_to_text(BODY)


def test_bad_dumps_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        list(read_posts(tmp_path / "missing_Posts.xml"))
    broken = tmp_path / "b_Posts.xml"
    broken.write_text("<posts><row Id='1'</posts>")
    with pytest.raises(EvalError, match=r"b_Posts.xml:1: not a valid Posts.xml"):
        list(iter_rows(broken, error=EvalError))
    bad = _dump(tmp_path, ['<row Id="7" PostTypeId="2" ParentId="1" Score="many" Body="x" />'])
    with pytest.raises(InputError, match=r"row 1 \(Id=7\): Score='many'"):
        list(read_posts(bad))


def test_one_post_is_the_same_text_in_eval_scorer_and_retriever(tmp_path):
    rows = ['<row Id="1" PostTypeId="1" Title="Which hops?" Body="&lt;p&gt;q&lt;/p&gt;" Score="1" />']
    rows += [f'<row Id="{i}" PostTypeId="2" ParentId="1" Score="{s}" Body="{_attr(b)}" />'
             for i, s, b in ((2, 9, BODY), (3, 1, "<p>Short answer here.</p>"))]
    path = _dump(tmp_path, rows)
    gold = eval_dataset(path).examples[0].answers[0]
    (pair,) = build_stackexchange_pairs(path, StackExchangeRecipe())
    passage = next(a.text for a in retriever_site(path).answers if a.id == "2")
    plain = html_to_text(BODY, cues=False)
    assert gold == "\n".join(line for line in plain.split("\n") if line.strip())  # eval: a paragraph a line
    assert passage == " ".join(plain.split())  # retrieval: one line
    assert pair.chosen == html_to_text(BODY)  # scorer: with the cues it was trained on
    assert json.dumps(gold.split()) == json.dumps(passage.split())
