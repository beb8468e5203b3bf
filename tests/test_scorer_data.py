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
    sites = ("beer.stackexchange.com", "matheducators.stackexchange.com")
    pairs = build_stackexchange_pairs([shared_data / "stackexchange" / f"{s}_Posts.xml" for s in sites])
    assert 4000 < len(pairs) < 5500
    assert {p.source for p in pairs} == set(sites)
    assert all(p.meta["chosen_score"] - p.meta["rejected_score"] >= 2 for p in pairs)


def test_real_dump_debiased_pairs(shared_data):
    from webglm.scorer.data import debiased

    pairs = build_stackexchange_pairs(shared_data / "stackexchange" / "beer.stackexchange.com_Posts.xml")
    shp = build_stackexchange_pairs(shared_data / "stackexchange" / "beer.stackexchange.com_Posts.xml",
                                    StackExchangeRecipe.shp())
    later = [p for p in pairs if p.meta["later_won"]]
    assert 0.15 < len(later) / len(pairs) < 0.4  # votes mostly follow who answered first
    assert len(shp) == len(debiased(pairs)) and 0 < len(shp) < len(later)
    assert all(p.meta["chosen_created"] > p.meta["rejected_created"] for p in shp)


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


def _dated_dump(tmp_path):
    """One question; answers (id, score, CreationDate): 11 early/10, 12 later/4, 13 latest/9, 14 latest/0."""
    from xml.sax.saxutils import quoteattr

    rows = [_row(1, 1, 5, "<p>How do hops work?</p>", title="Hops")]
    for aid, score, date in [(11, 10, "2020-01-01T10:00:00.000"), (12, 4, "2020-01-02T10:00:00.000"),
                             (13, 9, "2020-01-03T10:00:00.000"), (14, 0, "2020-01-04T10:00:00.000")]:
        row = _row(aid, 2, score, f"<p>answer {aid} {_words(5)}</p>", parent=1)
        rows.append(row.replace(" />", f" CreationDate={quoteattr(date)} />"))
    path = tmp_path / "dated.stackexchange.com_Posts.xml"
    path.write_text('<?xml version="1.0" encoding="utf-8"?>\n<posts>\n' + "".join(rows) + "</posts>\n")
    return path


def test_shp_recipe_keeps_later_answers_that_won_by_a_ratio(tmp_path):
    from webglm.scorer.data import debiased

    path = _dated_dump(tmp_path)
    raw = build_stackexchange_pairs(path)
    ids = lambda pairs: sorted((p.meta["chosen_id"], p.meta["rejected_id"]) for p in pairs)  # noqa: E731
    # raw (gap >= 2): 11>12, 11>13? no (gap 1), 11>14, 13>12, 13>14, 12>14
    assert ids(raw) == [("11", "12"), ("11", "14"), ("12", "14"), ("13", "12"), ("13", "14")]
    later = [p for p in raw if p.meta["later_won"]]
    assert ids(later) == [("13", "12")]  # the only winner posted after the answer it beat
    shp = build_stackexchange_pairs(path, StackExchangeRecipe.shp())
    assert ids(shp) == [("13", "12")]  # 9 / 4 >= 2
    assert ids(debiased(raw)) == ids(shp)
    assert ids(build_stackexchange_pairs(path, StackExchangeRecipe(later_preferred=True, min_score_ratio=3.0))) == []
    assert shp[0].meta["chosen_created"] == "2020-01-03T10:00:00.000"
    with pytest.raises(InputError, match="min_score_ratio"):
        StackExchangeRecipe(min_score_ratio=0.5)


def test_score_ratio_and_posting_order():
    from webglm.scorer.data import score_ratio
    from webglm.scorer.data.stackexchange import Post, posted_later

    assert score_ratio(9, 4) == 2.25 and score_ratio(3, 0) == float("inf") and score_ratio(0, -2) == 0.0
    early = Post("20", "answer", "1", 1, "", "x", "2020-01-01T00:00:00.000")
    late = Post("5", "answer", "1", 1, "", "x", "2021-01-01T00:00:00.000")
    assert posted_later(late, early) and not posted_later(early, late)  # the date decides, not the id
    assert posted_later(Post("9", "answer", "1", 1, "", "x"), Post("8", "answer", "1", 1, "", "x"))


def test_site_split_holds_out_whole_sites(tmp_path, dump):
    from webglm.scorer.data import site_split

    pairs = build_stackexchange_pairs([dump, _dated_dump(tmp_path)])
    train, test = site_split(pairs, ["dated.stackexchange.com"])
    assert {p.source for p in train} == {"test.stackexchange.com"}
    assert {p.source for p in test} == {"dated.stackexchange.com"} and len(train) + len(test) == len(pairs)
    with pytest.raises(InputError, match="sites present"):
        site_split(pairs, ["nope.example"])
