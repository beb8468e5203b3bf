"""Text handling shared by every stage, in every script.

One implementation of what the retriever, the ranker and the generator all need:

- :func:`detect_language`: ISO 639-1 code of a text. Scripts that identify their
  language (kana, Hangul, Thai, Han) decide directly; other text goes to py3langid.
- :func:`tokenize`: BM25 terms. Words of space-delimited scripts are lower-cased, lightly
  de-pluralised and stopword-filtered; Han, kana and Hangul runs become overlapping
  character bigrams (the CJK indexing scheme of Lucene's CJKBigramFilter), Thai and other
  unspaced Southeast Asian scripts too.
- :func:`content_terms`: the units a support check compares: stemmed English words without
  stopwords, character pairs for scripts written without spaces.
- :func:`sentence_spans` / :func:`split_sentences`: sentences ending in ``.!?`` followed by a
  space, or in ``。！？；`` with or without one; citation marks (``[1]``) after the end stay
  with their sentence.
- :func:`count_tokens`: an upper estimate of subword tokens (one per CJK character).
- :func:`stopwords`: the stopword set of a language.
- :data:`CITATION`, :func:`find_citations`, :func:`strip_citations`: ``[n]`` citation marks in
  every common spelling (``[1]``, ``[1][2]``, ``[1, 2]``, ``[1-3]``, ``[1 and 2]``).
- :func:`rouge1_precision`: WebGLM's ROUGE-1 precision of one text against another.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

__all__ = ["detect_language", "language_name", "is_cjk", "tokenize", "content_terms", "cjk_bigrams", "count_tokens",
           "token_spans", "sentence_spans", "split_sentences", "join_sentences", "stopwords", "stem",
           "SENTENCE_END", "TERMINAL", "TEXT_VERSION", "CITATION", "MAX_RANGE", "parse_group", "find_citations",
           "strip_citations", "rouge1_precision"]

# Changes whenever tokenize(), token_spans() or sentence_spans() change their output: saved
# lexical indexes and cached corpora made with another version are rebuilt.
TEXT_VERSION = "text/3"

# Scripts written without spaces between words.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_KANA = "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f"
_HANGUL = "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
_SEA = "\u0e00-\u0e7f\u0e80-\u0eff\u1000-\u109f\u1780-\u17ff"  # Thai, Lao, Myanmar, Khmer
_UNSPACED = _HAN + _KANA + _HANGUL + _SEA
# Thai vowel and tone marks are combining characters that ``\w`` does not match, so the
# unspaced scripts are matched by block, marks included.
_TERM = re.compile(rf"(?P<cjk>[{_HAN}{_KANA}{_HANGUL}]+)|(?P<sea>[{_SEA}]+)|(?P<word>(?:(?![{_UNSPACED}])[^\W_])+)")
# Chunking units: a word, one character of an unspaced script, or a punctuation mark.
_TOKEN = re.compile(rf"[{_UNSPACED}]|(?:(?![{_UNSPACED}])\w)+|[^\w\s]")
_SCRIPT = {name: re.compile(f"[{chars}]") for name, chars in
           (("han", _HAN), ("kana", _KANA), ("hangul", _HANGUL), ("thai", "\u0e00-\u0e7f"))}
_LETTER = re.compile(r"[^\W\d_]")

# English function words: they carry no topical signal (BM25) and no evidence (support).
_EN = frozenset("""
a about above after again against all am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her
here hers him his how i if in into is it its itself just me more most my no nor not now of off on once only
or other our ours out over own same she should so some such than that the their theirs them then there
these they this those through to too under until up very was we were what when where which while who whom
why will with would you your yours""".split())
# Hedges and connectives that say nothing about whether a source supports a sentence.
_EN_SUPPORT = _EN | frozenset("""
herself himself myself ourselves themselves yourself yourselves also may might must shall however thus
therefore within without via per one two many much well""".split())
# Chinese function characters and question words: present in every passage or only in questions.
_ZH_CHARS = frozenset("的了着过是在和与及或也被把之其个吗呢吧啊呀么")
_ZH_SPLIT = re.compile(f"[{''.join(sorted(_ZH_CHARS))}]|[^\\w]")
_ZH_WORDS = frozenset("""什么 哪个 哪些 哪里 哪儿 哪年 多少 几个 如何 怎么 怎样 为什么 是否 是不是 请问 一下 有没有
的 了 着 过 是 在 和 与 及 或 也 都 而 就 被 把 对 于 之 其 这 那 个 吗 呢 吧 啊 呀 么""".split())


def stem(word: str) -> str:
    """Strip common English inflections so "carries" matches "carry" (not a full stemmer)."""
    if len(word) <= 4 or not word.isascii():
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def stopwords(language: str = "en", *, purpose: str = "search") -> frozenset[str]:
    """Stopwords of ``language`` (ISO 639-1). ``purpose="support"`` adds the hedges a support
    check ignores. Chinese words are matched in word-segmented text; other languages use the
    stopwords-iso lists when the ``stopwordsiso`` package is installed, else none."""
    if language == "en":
        return _EN_SUPPORT if purpose == "support" else _EN
    if language == "zh":
        return _ZH_WORDS
    return _iso_stopwords(language)


@lru_cache(maxsize=64)
def _iso_stopwords(language: str) -> frozenset[str]:
    try:
        import stopwordsiso
    except ImportError:
        return frozenset()
    return frozenset(stopwordsiso.stopwords(language)) if stopwordsiso.has_lang(language) else frozenset()


def _bigrams(run: str) -> list[str]:
    return [run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)]


def tokenize(text: str) -> list[str]:
    """BM25 terms of ``text``: lower-cased words without English stopwords (a light plural
    strip joins "beer"/"beers"), and character bigrams of Han, kana, Hangul and Thai runs."""
    out: list[str] = []
    for m in _TERM.finditer(text.lower()):
        word = m.group("word")
        if word is None:
            out.extend(_bigrams(m.group()))
            continue
        if word in _EN:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return out


def cjk_bigrams(text: str) -> list[str]:
    """Overlapping character pairs of the Han, kana and Hangul runs of ``text`` (contiguous
    matches weigh more than scattered shared characters)."""
    return [b for m in _TERM.finditer(text.lower()) if m.group("cjk") for b in _bigrams(m.group()) if len(b) == 2]


def content_terms(text: str) -> list[str]:
    """Units a support check compares, with multiplicity: lower-cased, lightly stemmed words
    without stopwords, and for scripts written without spaces overlapping character pairs of
    the runs between function characters (a lone character where a run has only one)."""
    out: list[str] = []
    for m in _TERM.finditer(text.lower()):
        word = m.group("word")
        if word is None:
            # single characters matched almost any Chinese passage (an unrelated sentence
            # shared most of its characters with it); pairs need the words to match
            for run in _ZH_SPLIT.split(m.group()):
                if run:
                    out.extend(_bigrams(run))
        elif word not in _EN_SUPPORT:
            out.append(stem(word))
    return out


def token_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Character spans of chunking tokens: words, punctuation marks, and single characters of
    unspaced scripts (a BERT-style tokenizer gives each Han character its own token)."""
    return [m.span() for m in _TOKEN.finditer(text, start, len(text) if end is None else end)]


def count_tokens(text: str) -> int:
    """Number of chunking tokens in ``text`` (see :func:`token_spans`)."""
    return sum(1 for _ in _TOKEN.finditer(text))


def is_cjk(text: str) -> bool:
    """True when ``text`` contains Han, kana or Hangul characters."""
    return bool(re.search(f"[{_HAN}{_KANA}{_HANGUL}]", text))


# --- citation marks -------------------------------------------------------------------------

# One group of citation marks: "[1]", "[1, 2]", "[1-3]", "[2 and 4]" (group 1 is the inside).
CITATION = re.compile(r"\[\s*(\d+(?:\s*(?:[-\u2013,]|and)\s*\d+)*)\s*\]")
MAX_RANGE = 20  # "[1-300]" is not a citation of 300 references
_MARK_AND_SPACE = re.compile(r"[ \t]*" + CITATION.pattern)
_PUNCT_AFTER = re.compile(r"\s+([.,;:!?\u3002\uff0c\uff1b\uff1a\uff01\uff1f])")


def parse_group(inner: str) -> list[int]:
    """``"1, 3-4"`` -> ``[1, 3, 4]``; oversized ranges are ignored."""
    out: list[int] = []
    for part in re.split(r"\s*(?:,|and)\s*", inner.strip()):
        if not part:
            continue
        if "-" in part or "\u2013" in part:
            lo_s, hi_s = re.split(r"\s*[-\u2013]\s*", part, maxsplit=1)
            lo, hi = int(lo_s), int(hi_s)
            if lo <= hi and hi - lo < MAX_RANGE:
                out.extend(range(lo, hi + 1))
        else:
            out.append(int(part))
    return out


def find_citations(text: str) -> list[int]:
    """All cited reference numbers of ``text`` in order of appearance (repeats kept)."""
    return [i for m in CITATION.finditer(text) for i in parse_group(m.group(1))]


def strip_citations(text: str) -> str:
    """``text`` without citation marks, the spaces before them, and the spaces they leave
    before punctuation (``"Acids [1] isomerise [2]."`` -> ``"Acids isomerise."``)."""
    return _PUNCT_AFTER.sub(r"\1", _MARK_AND_SPACE.sub("", text)).strip()


def rouge1_precision(candidate: str, target: str) -> float:
    """ROUGE-1 precision of ``candidate`` against ``target``, as WebGLM uses it: the share of
    the candidate's content terms (:func:`content_terms`, with multiplicity; citation marks
    ignored) that the target contains, each term counted at most as often as the target has it.

    The citation check (``citation.method=rouge1``) scores an answer sentence against a
    reference; retriever training labels a reference against the answer. 0.0 when the
    candidate has no content terms."""
    cand = Counter(content_terms(strip_citations(candidate)))
    total = sum(cand.values())
    if total == 0:
        return 0.0
    have = Counter(content_terms(strip_citations(target)))
    return sum(min(c, have[w]) for w, c in cand.items()) / total


# --- sentences ------------------------------------------------------------------------------

_MARKS = rf"(?:\s*{CITATION.pattern})*"
# Latin terminal punctuation needs a following space ("3.14", "e.g.x" do not end sentences);
# CJK terminal punctuation ends a sentence as it is, since the next one follows without a space.
SENTENCE_END = re.compile(
    rf"[.!?][\"'\u201d\u2019)\]]*{_MARKS}(?=\s|$)"
    rf"|[\u3002\uff01\uff1f\uff1b\uff61][\"'\u201d\u2019\u300d\u300f\uff09)\]]*{_MARKS}")
_ENUM = re.compile(r"\(?\d{1,2}[.)]|[a-z][.)]")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text``, whitespace trimmed. Line breaks end
    sentences (extractors put one paragraph per line); a list number ("1.") opens its sentence."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for line in text.split("\n"):
        start = pos
        for m in SENTENCE_END.finditer(line):
            piece = line[start - pos:m.end()]
            if _ENUM.fullmatch(CITATION.sub("", piece).strip()):
                continue  # "1." of a numbered list starts the sentence, it is not one
            _add_span(spans, text, start, pos + m.end())
            start = pos + m.end()
        _add_span(spans, text, start, pos + len(line))
        pos += len(line) + 1
    return spans


def _add_span(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if stripped:
        lead = len(piece) - len(piece.lstrip())
        spans.append((start + lead, start + lead + len(stripped)))


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` (see :func:`sentence_spans`)."""
    return [text[s:e] for s, e in sentence_spans(text)]


_CJK_EDGE = re.compile(f"[{_HAN}{_KANA}{_HANGUL}\u3000-\u303f\uff00-\uffef]")
# terminal punctuation, optionally followed by closing quotes/brackets
TERMINAL = re.compile("[.!?\u3002\uff01\uff1f\uff1b\uff61][\"'\u201d\u2019\u300d\u300f\uff09)\\]]*$")


def join_sentences(sentences: list[str] | tuple[str, ...]) -> str:
    """Join sentences with a space, except between CJK sentences, which follow each other
    without one."""
    out = ""
    for sent in sentences:
        if out and not (_CJK_EDGE.match(out[-1]) and _CJK_EDGE.match(sent[:1])):
            out += " "
        out += sent
    return out


# --- languages ------------------------------------------------------------------------------

_NAMES = {
    "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "ca": "Catalan", "cs": "Czech", "da": "Danish",
    "de": "German", "el": "Greek", "en": "English", "es": "Spanish", "fa": "Persian", "fi": "Finnish",
    "fr": "French", "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian", "it": "Italian",
    "ja": "Japanese", "ko": "Korean", "ms": "Malay", "nl": "Dutch", "no": "Norwegian", "pl": "Polish",
    "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sv": "Swedish", "sw": "Swahili", "ta": "Tamil",
    "th": "Thai", "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese", "zh": "Chinese",
}


def language_name(code: str) -> str:
    """English name of an ISO 639-1 code (the code itself when unknown)."""
    return _NAMES.get(code, code)


def _by_script(text: str) -> str | None:
    """The language a script alone decides, when at least 30% of the letters use it."""
    letters = len(_LETTER.findall(text))
    if not letters:
        return None
    count = {name: len(rx.findall(text)) for name, rx in _SCRIPT.items()}
    share = 0.3 * letters
    if count["kana"] and count["kana"] + count["han"] >= share:
        return "ja"  # Japanese mixes kana into Han text; Chinese never uses kana
    if count["hangul"] >= share:
        return "ko"
    if count["thai"] >= share:
        return "th"
    if count["han"] >= share:
        return "zh"
    return None


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str, default: str = "en") -> str:
    """ISO 639-1 code of the language of ``text``; ``default`` when it has no letters or
    py3langid is unsure (below 0.5 probability, common for a few words of Latin script)."""
    text = text[:2000]
    decided = _by_script(text)
    if decided is not None:
        return decided
    if not _LETTER.search(text):
        return default
    lang, prob = _identifier().classify(text)
    return lang if prob >= 0.5 else default
