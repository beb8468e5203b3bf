"""Hybrid ranking logic with the hash encoder (fast, deterministic, no model weights)."""

import numpy as np
import pytest

from webglm.config import RankConfig
from webglm.contriever import BM25Index, Ranker, make_encoder
from webglm.contriever.lexical import tokenize
from webglm.contriever.ranking import candidate_ids, ranking_text
from webglm.errors import ConfigError, InputError
from webglm.types import Passage

TEXTS = [
    "India pale ale is a hoppy beer style brewed with extra hops for export.",
    "Stout is a dark beer made with roasted barley and malt.",
    "Lager beer is fermented and conditioned at low temperatures.",
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, France.",
    "Mathematics teachers use worked examples to explain fractions to pupils.",
    "Hops give beer its bitterness and floral aroma.",
]


def passages(texts=TEXTS, urls=None):
    return [Passage(id=f"p{i}", text=t, url=(urls[i] if urls else f"https://site{i}.test/"), title="")
            for i, t in enumerate(texts)]


def ranker(**kw):
    cfg = RankConfig(encoder="hash", **kw)
    return Ranker(make_encoder(cfg), cfg)


def test_tokenize_drops_stopwords_and_plurals():
    assert tokenize("The beers of the World") == ["beer", "world"]


def test_bm25_scores_are_normalised_and_ordered():
    index = BM25Index()
    index.add(TEXTS)
    scores = index.scores("dark roasted stout")
    assert scores.shape == (len(TEXTS),)
    assert 0.0 <= scores.min() and scores.max() < 1.0
    assert int(np.argmax(scores)) == 1
    assert index.scores("zzzz unknown words").max() == 0.0


def test_rank_numbers_references_and_puts_best_first():
    ranking = ranker().rank("Which beer style is hoppy, like India pale ale?", passages())
    assert not ranking.abstained
    assert [r.index for r in ranking.references] == list(range(1, len(ranking.references) + 1))
    assert len(ranking.references) == 5
    assert ranking.references[0].passage.id == "p0"
    assert ranking.timings["total"] >= ranking.timings["encode"] >= 0.0


def test_abstains_on_irrelevant_question():
    ranking = ranker().rank("quantum chromodynamics gluon confinement lattice QCD", passages()[:3])
    assert ranking.abstained
    assert ranking.references == ()
    assert ranking.best_score < RankConfig().min_score


def test_per_url_cap_limits_one_site():
    urls = ["https://a.test/"] * 4 + ["https://b.test/", "https://c.test/"]
    ranking = ranker(per_url_cap=2, mmr_lambda=1.0).rank("beer hops", passages(urls=urls))
    sites = [r.passage.url for r in ranking.references]
    assert sites.count("https://a.test/") == 2


def test_mmr_skips_near_duplicates():
    texts = ["hops give beer bitterness"] * 3 + ["bitterness in beer comes from hop acids", "paris tower"]
    plain = ranker(mmr_lambda=1.0, top_k=2).rank("beer bitterness hops", passages(texts))
    diverse = ranker(mmr_lambda=0.5, top_k=2).rank("beer bitterness hops", passages(texts))
    assert {r.passage.text for r in plain.references} == {texts[0]}
    assert len({r.passage.text for r in diverse.references}) == 2


def test_per_source_cap_counts_one_local_file_once():
    # a local corpus gives each passage its own line anchor; five anchors in one file are one source
    urls = [f"file:docs/beer.md#L{10 * i}" for i in range(5)] + ["file:docs/other.md#L1"]
    ranking = ranker(per_url_cap=2, mmr_lambda=1.0).rank("beer hops", passages(urls=urls))
    files = [r.passage.url.split("#")[0] for r in ranking.references]
    assert files.count("file:docs/beer.md") == 2


def test_title_reaches_bm25_and_encoder_and_is_stored_once():
    texts = ["Lager is fermented cold.", "Tea is an infusion of leaves.",
             "It is brewed with roasted barley and tastes of coffee."]
    ps = [Passage(id=f"p{i}", text=t, url=f"https://s{i}.test/", title=title)
          for i, (t, title) in enumerate(zip(texts, ["", "Green tea", "Irish stout"]))]
    ranking = ranker(mmr_lambda=1.0, min_score=0.0).rank("irish stout", ps)
    best = ranking.references[0].passage
    assert best.id == "p2" and best.text == texts[2] and best.title == "Irish stout"
    assert ranking.references[0].score > ranking.references[1].score
    assert ranking_text(best) == "Irish stout\n" + texts[2]
    assert ranking_text(ps[0]) == texts[0]


def test_dense_scores_every_passage_of_a_small_question():
    r = ranker(dense_budget=10)
    ranking = r.rank("beer hops", passages())
    assert ranking.counters["candidates"] == len(TEXTS)


def test_above_the_budget_each_page_keeps_its_lead_passages():
    # 3 pages x 4 passages; BM25 likes page a only, yet pages b and c still get dense-scored passages
    urls = ["https://a.test/"] * 4 + ["https://b.test/"] * 4 + ["https://c.test/"] * 4
    lexical = np.array([0.9, 0.8, 0.7, 0.6] + [0.0] * 8, dtype=np.float32)
    ids = candidate_ids(lexical, urls, 8)
    assert len(ids) == 8 and list(ids[:6]) == [0, 1, 2, 3, 4, 5]  # BM25's 6 (ties in reading order)
    assert 8 in ids  # the top-up reached page c, which BM25 left out
    assert set(candidate_ids(lexical, urls, 12)) == set(range(12))
    few = candidate_ids(lexical, urls, 4)
    assert list(few[:3]) == [0, 1, 2] and len(few) == 4


def test_prefilter_limits_dense_work_and_cache_reuses_vectors():
    r = ranker(dense_budget=3)
    first = r.rank("beer hops", passages())
    assert first.counters["candidates"] == 3
    again = r.rank("beer hops", passages())
    assert again.counters["encoded"] == 0
    assert again.counters["cache_hits"] >= 3


def test_rrf_fusion_ranks_and_keeps_absolute_scores():
    ranking = ranker(fusion="rrf").rank("dark stout roasted barley", passages())
    assert ranking.references[0].passage.id == "p1"
    assert 0.0 < ranking.references[0].score <= 1.0


def test_empty_question_and_empty_passages():
    with pytest.raises(InputError):
        ranker().rank("   ", passages())
    assert ranker().rank("beer", []).abstained


def test_config_validation():
    with pytest.raises(ConfigError):
        RankConfig(fusion="max")
    with pytest.raises(ConfigError):
        RankConfig(encoder="bert")


def test_a_small_budget_tops_up_pages_bm25_left_out_first():
    # 6 pages x 3 passages; BM25 likes page a's passages and page b's *last* one. The top-up
    # (a quarter of 8 = 2 slots) goes to pages e and f, which BM25 left out, not to page b's lead
    urls = [f"https://{p}.test/" for p in "abcdef" for _ in range(3)]
    lexical = np.zeros(18, dtype=np.float32)
    lexical[[0, 1, 2]] = [0.9, 0.8, 0.7]
    lexical[5] = 0.6
    lexical[[6, 9, 12, 15]] = 0.01  # so BM25's order among the rest is reading order
    ids = candidate_ids(lexical, urls, 8)
    assert set(ids[:6]) == {0, 1, 2, 5, 6, 9}
    assert set(ids[6:]) == {12, 15} and 3 not in ids
