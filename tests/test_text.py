"""webglm.text on Chinese (and other scripts): tokenisation, sentences, chunk sizes, the
support check and the extractive fallback."""

from __future__ import annotations

import json

import pytest

from webglm.config import ChunkConfig
from webglm.contriever.lexical import BM25Index
from webglm.generator.citations import check_citations, extractive_answer, rouge1_precision
from webglm.retriever.chunk import chunk_text
from webglm.text import (content_terms, count_tokens, detect_language, join_sentences, split_sentences,
                         tokenize)

SECURITY = ("webglm 抓取网页时只连接公网地址，每一次重定向都会重新检查。"
            "响应体有大小上限，解压后的字节也会计数，以防压缩炸弹。")
RANKING = "排序阶段先用 BM25 预筛选候选段落，再用稠密编码器打分，最后取前五个作为参考资料。"
WEATHER = "北京的冬季寒冷干燥，夏季炎热多雨，春秋两季较短。"


def test_chinese_is_tokenised_into_character_bigrams():
    assert tokenize("网页抓取的安全") == ["网页", "页抓", "抓取", "取的", "的安", "安全"]
    # mixed text: English words keep their rules (stopwords, plural strip)
    assert tokenize("The beers 安全") == ["beer", "安全"]
    assert tokenize("東京タワー") == ["東京", "京タ", "タワ", "ワー"]
    assert tokenize("서울은") == ["서울", "울은"]


def test_bm25_finds_the_chinese_passage():
    index = BM25Index()
    index.add([WEATHER, RANKING, SECURITY])
    ids, scores = index.top("webglm 如何保证网页抓取的安全？", 3)
    assert ids[0] == 2 and scores[0] > 2 * scores[1]


def test_chinese_sentences_split_on_cjk_punctuation_without_spaces():
    text = "北京是中国的首都。[1]上海是最大的城市！他说：“好。”第二句；第三句"
    assert split_sentences(text) == ["北京是中国的首都。[1]", "上海是最大的城市！", "他说：“好。”",
                                     "第二句；", "第三句"]
    # Latin text still needs a space after the full stop
    assert split_sentences("Pi is 3.14 here. Next one.") == ["Pi is 3.14 here.", "Next one."]
    assert join_sentences(["北京是首都[1]。", "上海很大[2]。", "Done."]) == "北京是首都[1]。上海很大[2]。 Done."


def test_chinese_chunks_stay_within_the_token_limit():
    cities = "北京上海广州深圳杭州南京成都重庆武汉西安天津苏州长沙郑州青岛沈阳大连厦门昆明合肥"
    # ~1,400 characters of sentences without spaces (the repeated half is deduplicated)
    text = "".join(f"{cities[i:i + 2]}的第{i}号档案记录了这座城市在不同年代的人口、道路和学校的变化情况。"
                   for i in range(0, 40, 2)) * 2
    config = ChunkConfig(max_tokens=100, overlap_tokens=20)
    passages = chunk_text(text, url="https://e.org/zh", title="安全", config=config)
    assert len(passages) > 5
    assert all(count_tokens(p.text) <= 100 and len(p.text) <= 110 for p in passages)
    assert all(p.text.endswith("。") for p in passages)  # cut at sentence ends


def test_count_tokens_counts_each_cjk_character():
    assert count_tokens("北京是中国的首都。") == 9
    assert count_tokens("hello world, 北京") == 5


def test_support_check_on_chinese_compares_character_pairs():
    refs = {1: SECURITY, 2: WEATHER}
    assert content_terms("网页抓取的安全") == ["网页", "页抓", "抓取", "安全"]  # pairs, split at 的
    assert content_terms("猫是动物") == ["猫", "动物"]  # a lone character between function characters
    assert rouge1_precision("webglm 只连接公网地址。", SECURITY) == 1.0
    check = check_citations("webglm 只连接公网地址，每次重定向都会重新检查[2]。月球上有很多奶酪。", refs)
    first, second = check.support
    assert first.supported_by == (1,) and not first.flagged
    assert second.flagged and not second.supported_by
    assert check.text.startswith("webglm 只连接公网地址，每次重定向都会重新检查[1]。月球")


def test_unrelated_chinese_sentence_sharing_characters_is_not_supported():
    # every character of the sentence occurs in the reference, in other words: single
    # characters counted it as fully supported (precision 1.0)
    ref = "学校的大门前有一条小河，河边种着柳树。每年春天，学生们在树下读书。"
    unrelated = "小学生每天在河边门前种树。"
    assert rouge1_precision(unrelated, ref) < 0.5
    check = check_citations(unrelated + "[1]", {1: ref})
    assert check.support[0].supported_by == () and check.support[0].flagged
    quoted = check_citations("每年春天，学生们在树下读书[1]。", {1: ref})
    assert quoted.support[0].supported_by == (1,)


def test_extractive_fallback_quotes_chinese_in_chinese():
    refs = [(1, WEATHER), (2, "The fetcher connects only to public addresses."), (3, SECURITY)]
    answer = extractive_answer("webglm 抓取网页时如何保证安全？", refs, max_sentences=1)
    assert answer == "webglm 抓取网页时只连接公网地址，每一次重定向都会重新检查[3]。"
    assert extractive_answer("月球上有什么？", [(1, "Nothing relevant here at all.")]) == "参考资料没有回答这个问题。"


@pytest.mark.parametrize("text, lang", [
    ("webglm 如何保证网页抓取的安全？", "zh"), ("《战国无双3》是由哪两个公司合作开发的？", "zh"),
    ("東京タワーはいつ建てられましたか", "ja"), ("서울은 한국의 수도입니까?", "ko"), ("กรุงเทพอยู่ที่ไหน", "th"),
    ("who wrote hamlet", "en"), ("Wie funktioniert das Internet?", "de"), ("¿Dónde está la estación?", "es"),
    ("12345 ???", "en"),
])
def test_language_of_short_questions(text, lang):
    assert detect_language(text) == lang


@pytest.mark.slow
def test_chinese_chunks_fit_the_packaged_encoders_window():
    from transformers import AutoTokenizer

    from webglm.contriever.encoders import packaged_minilm_path

    tok = AutoTokenizer.from_pretrained(str(packaged_minilm_path()))
    text = "".join(f"第{i}段：webglm 抓取网页时只连接公网地址，每一次重定向都会重新检查，响应体有大小上限。"
                   for i in range(60))
    for p in chunk_text(text, url="u", title="t", config=ChunkConfig()):  # default: 100 tokens
        # one token per Han character, as the encoder counts them; English words may take a few
        # wordpieces ("webglm" = web ##gl ##m), still far inside the 256-token window
        n = len(tok(p.text)["input_ids"])
        assert count_tokens(p.text) <= 100 and n <= 1.3 * count_tokens(p.text) + 2 <= 256
        han = "".join(c for c in p.text if "\u4e00" <= c <= "\u9fff")
        assert len(tok(han)["input_ids"]) - 2 == len(han)


def test_learned_check_does_not_accept_unrelated_chinese_sentence():
    from webglm.generator.support import SupportModel

    ref = "学校的大门前有一条小河，河边种着柳树。每年春天，学生们在树下读书。"
    model = SupportModel.load()  # the lexical model (no encoder)
    unrelated = check_citations("小学生每天在河边门前种树[1]。", {1: ref}, support=model)
    assert unrelated.support[0].supported_by == ()
    quoted = check_citations("每年春天，学生们在树下读书[1]。", {1: ref}, support=model)
    assert quoted.support[0].supported_by == (1,)


def test_chinese_sentences_cited_against_other_paragraphs_are_rarely_supported(shared_data):
    """CMRC 2018: a sentence of one paragraph, cited against another paragraph, is not
    supported by it; with single characters WebGLM's rule (plus the cited bonus) accepted
    about one in ten such pairs."""
    import random

    path = shared_data / "zh" / "cmrc2018_dev.json"
    if not path.is_file():
        pytest.skip("CMRC 2018 dev is not in the shared data")
    data = json.loads(path.read_text(encoding="utf-8"))
    paras = [p["context"] for a in data["data"] for p in a["paragraphs"]]
    rng = random.Random(1)
    accepted = total = 0
    while total < 200:
        i, j = rng.sample(range(len(paras)), 2)
        sentences = [s for s in split_sentences(paras[i]) if 12 <= len(s) <= 40]
        if sentences:
            check = check_citations(rng.choice(sentences) + "[1]", {1: paras[j]})
            accepted += bool(check.support[0].supported_by)
            total += 1
    assert accepted <= 4, accepted
