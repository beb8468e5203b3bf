"""What webglm itself says to a reader (abstentions, notices), in the question's language.

English is the fallback for languages without a translation here; the language of an
answer's own text is set by the prompt (see docs/languages.md).
"""

from __future__ import annotations

_MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "no_answer": "The references do not answer this question.",
        "abstain": "I found no supporting evidence for this question in the retrieved sources, "
                   "so I will not answer it.",
        "search_failed": "The web search failed ({why}), so there was nothing to answer from.",
        "no_results": "The web search returned no results for this question, so I will not answer it.",
        "unreadable": "None of the {hits} search results could be read, so there was nothing to answer from.",
        "other_language": "The references are in another language; quoted as written:",
        "quoted_source": "A source in {name} says:",
        "quoted_unsupported": "(Quoted from the references: no sentence the model wrote was supported by them. "
                              "--set generate.fallback=none shows the model's own answer, flagged.)",
        "quoted_language": "(Quoted from the references: the generator does not write {name}. Pass a "
                           "multilingual model with --model, or --set generate.fallback=none to let it try.)",
    },
    "zh": {
        "no_answer": "参考资料没有回答这个问题。",
        "abstain": "检索到的来源中没有支持这个问题的证据，因此我不作回答。",
        "search_failed": "网页搜索失败（{why}），没有可以依据的资料。",
        "no_results": "网页搜索没有返回任何结果，因此我不作回答。",
        "unreadable": "{hits} 个搜索结果都无法读取，没有可以依据的资料。",
        "other_language": "参考资料不是中文，以下按原文引用：",
        "quoted_source": "{name}资料写道：",
        "quoted_unsupported": "（以上摘自参考资料：模型写的句子都没有得到参考资料的支持。"
                              "--set generate.fallback=none 显示模型自己的回答，并标出无依据的句子。）",
        "quoted_language": "（以上摘自参考资料：生成模型不会写中文。用 --model 指定多语言模型，"
                           "或用 --set generate.fallback=none 让它尝试。）",
    },
}


# language names as the Chinese messages write them (others: the English name)
_NAMES_ZH = {"en": "英文", "ja": "日文", "ko": "韩文", "fr": "法文", "de": "德文", "es": "西班牙文", "ru": "俄文",
             "pt": "葡萄牙文", "it": "意大利文", "zh": "中文"}


def language_name_in(code: str, language: str) -> str:
    """The name of language ``code`` written in ``language`` (English names where there is no table)."""
    from .text import language_name

    return _NAMES_ZH.get(code, language_name(code)) if language == "zh" else language_name(code)


def message(key: str, language: str = "en", **values: object) -> str:
    """The message ``key`` in ``language`` (ISO 639-1), English when there is no translation."""
    table = _MESSAGES.get(language, _MESSAGES["en"])
    return table.get(key, _MESSAGES["en"][key]).format(**values)


def translated(language: str) -> bool:
    """Whether webglm's own messages exist in ``language``."""
    return language in _MESSAGES
