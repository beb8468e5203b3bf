"""Preference data: Stack Exchange recipe, public-format loaders, grouped splits."""

import gzip
import json

import pytest

from webglm.errors import InputError
from webglm.scorer.data import (
    StackExchangeRecipe,
    build_stackexchange_pairs,
    count_words,
    detect_format,
    grouped_split,
    html_to_text,
    load_pairs,
    load_pairs_jsonl,
    load_shp,
    load_webgpt_comparisons,
    write_pairs_jsonl,
)
from webglm.types import Failure


def _row(pid, kind, score, body, parent="", title=""):
    from xml.sax.saxutils import quoteattr

    attrs = f'Id="{pid}" PostTypeId="{kind}" Score="{score}" Body={quoteattr(body)}'
    attrs += f' ParentId="{parent}"' if parent else ""
    attrs += f" Title={quoteattr(title)}" if title else ""
    return f"  <row {attrs} />\n"


def _words(n, word="word"):
    return " ".join([word] * n)


@pytest.fixture
def dump(tmp_path):
    """Q1 has answers scored 10/7/3/2/0 with 40/20/20/20/4 words; Q2 has one answer."""
    rows = [_row(1, 1, 5, "<p>How do hops work?</p>", title="Hops")]
    for aid, score, n in [(11, 10, 40), (12, 7, 20), (13, 3, 20), (14, 2, 20), (15, 0, 4)]:
        rows.append(_row(aid, 2, score, f"<p>{_words(n, f'a{aid}')}</p>", parent=1))
    rows.append(_row(2, 1, 1, "<p>Lonely question</p>", title="Q2"))
    rows.append(_row(21, 2, 9, f"<p>{_words(20)}</p>", parent=2))
    path = tmp_path / "test.stackexchange.com_Posts.xml"
    path.write_text('<?xml version="1.0" encoding="utf-8"?>\n<posts>\n' + "".join(rows) + "</posts>\n")
    return path


def test_html_to_text_keeps_structure_and_links():
    html = ('<p>First <b>para</b>.</p><ul><li><p>one</p></li><li>two</li></ul>'
            '<p>See <a href="https://example.org/x">this</a> &amp; that</p><pre><code>x  =  1\n</code></pre>')
    text = html_to_text(html)
    assert text.startswith("First para.")
    assert "- one" in text and "- two" in text
    assert "this (https://example.org/x) & that" in text
    assert "x  =  1" in text  # code keeps its spacing
    assert "\n\n\n" not in text


def test_default_recipe_pairs_by_score_gap(dump):
    pairs = build_stackexchange_pairs(dump)
    got = {(p.meta["chosen_score"], p.meta["rejected_score"]) for p in pairs}
    # all pairs at least 2 votes apart; the lonely question gives none
    assert got == {(10, 7), (10, 3), (10, 2), (10, 0), (7, 3), (7, 2), (7, 0), (3, 0), (2, 0)}
    assert all(p.group == "test.stackexchange.com/1" and p.question.startswith("Hops") for p in pairs)
    assert all(p.margin == p.meta["chosen_score"] - p.meta["rejected_score"] for p in pairs)


def test_thresholds_are_applied(dump):
    pairs = build_stackexchange_pairs(dump, StackExchangeRecipe(min_answer_score=3, min_score_gap=1))
    assert {(p.meta["chosen_score"], p.meta["rejected_score"]) for p in pairs} == {(10, 7), (10, 3), (7, 3)}
    pairs = build_stackexchange_pairs(dump, StackExchangeRecipe(min_score_gap=1, min_rank_gap=3))
    assert {(p.meta["chosen_score"], p.meta["rejected_score"]) for p in pairs} == {(10, 2), (10, 0), (7, 0)}
    assert build_stackexchange_pairs(dump, StackExchangeRecipe(min_answers=6)) == []
    capped = build_stackexchange_pairs(dump, StackExchangeRecipe(max_pairs_per_question=2))
    assert [p.margin for p in capped] == [10.0, 8.0]


def test_length_mitigation_truncates_to_median_and_drops_short(dump):
    recipe = StackExchangeRecipe(truncate_to_median=True, drop_below_half_median=True)
    pairs = build_stackexchange_pairs(dump, recipe)
    # site median of 40/20/20/20/4/20 words is 20: the 4-word answer is dropped, the 40-word one cut
    assert all(p.meta["rejected_score"] != 0 for p in pairs)
    assert {count_words(a) for p in pairs for a in (p.chosen, p.rejected)} == {20}


def test_webglm_recipe_values():
    r = StackExchangeRecipe.webglm()
    assert (r.min_answer_score, r.min_answers, r.min_rank_gap) == (4, 8, 6)
    assert r.truncate_to_median and r.drop_below_half_median
    with pytest.raises(InputError):
        StackExchangeRecipe(min_answers=1)


def test_missing_and_malformed_dumps(tmp_path):
    with pytest.raises(InputError):
        build_stackexchange_pairs(tmp_path / "nope_Posts.xml")
    bad = tmp_path / "bad_Posts.xml"
    bad.write_text("<posts><row Id='1'")
    with pytest.raises(InputError, match="malformed"):
        build_stackexchange_pairs(bad)


def test_real_dumps_give_about_4700_pairs(shared_data):
    pairs = build_stackexchange_pairs(shared_data / "stackexchange")
    assert 4000 < len(pairs) < 5500
    assert {p.source for p in pairs} == {"beer.stackexchange.com", "matheducators.stackexchange.com"}
    assert all(p.meta["chosen_score"] - p.meta["rejected_score"] >= 2 for p in pairs)


def test_grouped_split_never_leaks_a_question(dump, tmp_path):
    pairs = []
    for i in range(300):
        pairs += load_pairs_jsonl(_jsonl(tmp_path / f"g{i}.jsonl", [
            {"question": f"q{i}", "chosen": "good", "rejected": "bad"},
            {"question": f"q{i}", "chosen": "great", "rejected": "bad"},
        ]))
    splits = grouped_split(pairs, validation=0.1, test=0.2, seed=3)
    groups = [{p.group_key() for p in part} for part in (splits.train, splits.validation, splits.test)]
    assert not (groups[0] & groups[1]) and not (groups[0] & groups[2]) and not (groups[1] & groups[2])
    assert sum(splits.sizes().values()) == len(pairs)
    assert 30 < len(groups[2]) < 90 and 10 < len(groups[1]) < 55
    again = grouped_split(list(reversed(pairs)), validation=0.1, test=0.2, seed=3)
    assert {p.question for p in again.test} == {p.question for p in splits.test}  # order-independent
    with pytest.raises(InputError):
        grouped_split(pairs, validation=0.5, test=0.5)


def _jsonl(path, rows, gz=False):
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def test_webgpt_loader(tmp_path):
    rows = [
        {"question": {"full_text": "Why is the sky blue?", "id": "q1"}, "answer_0": "Rayleigh.", "score_0": -1.0,
         "answer_1": "Scattering [1].", "score_1": 1.0,
         "quotes_0": {"title": [], "extract": []}, "quotes_1": {"title": ["Sky"], "extract": ["blue light"]}},
        {"question": {"full_text": "Tie?"}, "answer_0": "a", "score_0": 0.0, "answer_1": "b", "score_1": 0.0},
        {"question": {"full_text": "broken"}},
    ]
    failures: list[Failure] = []
    pairs = load_webgpt_comparisons(_jsonl(tmp_path / "w.jsonl", rows), failures=failures)
    assert len(pairs) == 1 and pairs[0].chosen == "Scattering [1]." and pairs[0].group == "q1"
    assert len(failures) == 1 and failures[0].kind == "bad-row"
    quoted = load_webgpt_comparisons(tmp_path / "w.jsonl", include_quotes=True)
    assert "[1] Sky: blue light" in quoted[0].chosen
    assert detect_format(tmp_path / "w.jsonl") == "webgpt"


def test_shp_loader(tmp_path):
    rows = [
        {"post_id": "p1", "history": "Best pizza?", "human_ref_A": "Neapolitan", "human_ref_B": "Frozen",
         "labels": 1, "score_A": 30, "score_B": 3},
        {"post_id": "p1", "history": "Best pizza?", "human_ref_A": "Deep dish", "human_ref_B": "Thin",
         "labels": 0, "score_A": 5, "score_B": 8},
    ]
    path = _jsonl(tmp_path / "shp.jsonl.gz", rows, gz=True)
    pairs = load_shp(path)
    assert [(p.chosen, p.rejected) for p in pairs] == [("Neapolitan", "Frozen"), ("Thin", "Deep dish")]
    assert len(load_shp(path, min_score_ratio=2.0)) == 1
    assert detect_format(path) == "shp"


def test_generic_and_hh_rlhf_dialogue_rows(tmp_path):
    rows = [
        {"question": "q", "chosen": "yes", "rejected": "no", "group": "g"},
        {"prompt": "p", "chosen": "same", "rejected": "same"},  # no preference: skipped
        {"chosen": "\n\nHuman: hi\n\nAssistant: hello!", "rejected": "\n\nHuman: hi\n\nAssistant: go away"},
        {"chosen": "no dialogue", "rejected": "at all"},
    ]
    failures: list[Failure] = []
    pairs = load_pairs_jsonl(_jsonl(tmp_path / "g.jsonl", rows), failures=failures)
    assert [(p.question, p.chosen, p.rejected) for p in pairs] == [
        ("q", "yes", "no"), ("Human: hi\n\nAssistant:", "hello!", "go away")]
    assert len(failures) == 1
    with pytest.raises(InputError, match="no usable"):
        load_pairs_jsonl(_jsonl(tmp_path / "bad.jsonl", [{"x": 1}]))
    with pytest.raises(InputError):
        load_pairs(tmp_path / "g.jsonl", "nope")


def test_hh_rlhf_file_loads(shared_data):
    pairs = load_pairs(shared_data / "preferences" / "hh-rlhf_harmless-base_test.jsonl.gz")
    assert len(pairs) > 2200
    assert all(p.question.endswith("Assistant:") and p.chosen != p.rejected for p in pairs)


def test_write_and_reload_roundtrip(dump, tmp_path):
    pairs = build_stackexchange_pairs(dump)
    out = tmp_path / "pairs.jsonl"
    assert write_pairs_jsonl(pairs, out) == len(pairs)
    again = load_pairs(out)
    assert [(p.question, p.chosen, p.rejected, p.group) for p in again] == [
        (p.question, p.chosen, p.rejected, p.group) for p in pairs]
