"""Answer, citation, ranking and cost metrics, plus bootstrap confidence intervals.

Pure Python (no numpy) so that evaluation reports can be recomputed anywhere.

Short answers
    ``webglm_match`` reproduces WebGLM's open-QA metric exactly: an example is correct when
    any gold answer string occurs in the long answer as a raw substring. It is **case
    sensitive** and does no normalisation: ``"Babur"`` does not match ``"babur"``, and
    ``"5"`` matches ``"1995"``. Use it only to compare with the paper's numbers.
    ``best_subspan_em`` is the metric of the NQ-open oracle release (normalised substring).
    ``contains`` is the robust version: SQuAD normalisation (lower case, punctuation and
    articles dropped, whitespace collapsed) and whole-token containment. ``exact_match``
    and ``token_f1`` are the SQuAD definitions, maximised over gold answers.
    For gold answers in Chinese, Japanese or Korean, ``contains`` is a character substring test
    and ``token_f1`` counts characters (the CMRC 2018 convention).
Retrieval and language
    ``source_hit``: a top-5 reference comes from the gold source (SQuAD-format corpora);
    ``in_question_language``: the answer is in the language of the question.
Long answers
    ``rouge_l``: ROUGE-L F1 on lower-cased word tokens, maximised over gold answers.
Citations
    ``[n]`` markers in an answer must name one of its references (1..len(references));
    :func:`invalid_citations` lists those that do not.
"""

from __future__ import annotations

import math
import random
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from ..retrieval_metrics import recall_at_k, reciprocal_rank  # noqa: F401 (part of this module's API)
from ..text import detect_language, find_citations, is_cjk, strip_citations

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)
_WORD = re.compile(r"[a-z0-9]+")
# "[3]", "[1, 2]", "[1,2,5]": the forms generators write; "[1-3]" is not a citation we emit.


# --- short-answer metrics -----------------------------------------------------


def webglm_match(prediction: str, golds: Sequence[str]) -> float:
    """WebGLM's metric: 1.0 if any gold answer is a (case-sensitive) substring of the prediction."""
    return 1.0 if any(g in prediction for g in golds) else 0.0


def normalize_answer(text: str) -> str:
    """SQuAD normalisation (plus NFKC): lower case, drop punctuation and articles, collapse spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if ch in _PUNCT else ch for ch in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _cjk_chars(text: str) -> str:
    """Normalised text without spaces or punctuation (any script): CJK answers are compared
    character by character, since words are not separated."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if not ch.isspace() and not unicodedata.category(ch).startswith("P"))


def contains(prediction: str, golds: Sequence[str]) -> float:
    """1.0 if a normalised gold answer occurs in the normalised prediction as whole tokens
    (as a character substring for gold answers in Chinese, Japanese or Korean)."""
    pred = f" {normalize_answer(prediction)} "
    chars = None
    for gold in golds:
        if is_cjk(gold):
            chars = _cjk_chars(prediction) if chars is None else chars
            if (g := _cjk_chars(gold)) and g in chars:
                return 1.0
        elif (g := normalize_answer(gold)) and f" {g} " in pred:
            return 1.0
    return 0.0


def _tokens(text: str) -> list[str]:
    """Normalised tokens; each CJK character is a token (the CMRC 2018 F1 convention)."""
    out: list[str] = []
    for tok in normalize_answer(text).split():
        out.extend(_cjk_chars(tok) if is_cjk(tok) else [tok])
    return out


def best_subspan_em(prediction: str, golds: Sequence[str]) -> float:
    """The lost-in-the-middle metric: 1.0 if a normalised gold answer is a substring of the
    normalised prediction (characters, not whole tokens: "5" matches "1995")."""
    pred = normalize_answer(prediction)
    return 1.0 if any((g := normalize_answer(gold)) and g in pred for gold in golds) else 0.0


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 if the normalised prediction equals a normalised gold answer."""
    pred = normalize_answer(prediction)
    return 1.0 if any(pred == normalize_answer(g) for g in golds) else 0.0


def _f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """SQuAD token F1 between normalised prediction and the best gold answer."""
    pred = _tokens(prediction)
    return max((_f1(pred, _tokens(g)) for g in golds), default=0.0)


def source_hit(references: Sequence[Mapping], gold_sources: Sequence[str], k: int = 5) -> float:
    """1.0 if one of the first ``k`` references comes from a gold source file (its URL,
    without the ``#L..`` anchor, ends with the gold name)."""
    urls = [str(r.get("url", "")).split("#", 1)[0] for r in references[:k]]
    return 1.0 if any(u.endswith(("/" + g, ":" + g)) or u == g for u in urls for g in gold_sources) else 0.0


def same_language(answer: str, question: str) -> float:
    """1.0 if the answer is written in the question's language (citation marks ignored)."""
    text = strip_citations(answer)
    return 1.0 if detect_language(text) == detect_language(question) else 0.0


# --- long-answer metrics --------------------------------------------------------


def rouge_tokens(text: str) -> list[str]:
    """Lower-cased alphanumeric word tokens (the tokenisation of the usual ROUGE scripts)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence, bit-parallel (Hyyrö 2004): O(len(b)) big-int
    operations, so ROUGE-L on thousand-word answers stays cheap in pure Python."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    masks: dict[str, int] = {}
    for i, tok in enumerate(a):
        masks[tok] = masks.get(tok, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for tok in b:
        u = v & masks.get(tok, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def rouge_l(prediction: str, golds: Sequence[str]) -> float:
    """ROUGE-L F1 of the prediction against the best-matching gold answer."""
    pred = rouge_tokens(prediction)
    best = 0.0
    for gold in golds:
        ref = rouge_tokens(gold)
        lcs = lcs_length(pred, ref)
        if lcs:
            p, r = lcs / len(pred), lcs / len(ref)
            best = max(best, 2 * p * r / (p + r))
    return best


# --- citations ------------------------------------------------------------------


def citation_numbers(text: str) -> list[int]:
    """Every reference number cited in ``text``, in order of appearance (repeats kept)."""
    return find_citations(text)


def invalid_citations(text: str, n_references: int) -> list[int]:
    """Cited numbers that name no reference (outside 1..n_references)."""
    return [n for n in citation_numbers(text) if not 1 <= n <= n_references]


def set_f1(predicted: Iterable[int], gold: Iterable[int]) -> float:
    """F1 between two sets (e.g. cited references vs the gold answer's citations)."""
    p, g = set(predicted), set(gold)
    if not p and not g:
        return 1.0
    if not p or not g:
        return 0.0
    both = len(p & g)
    return 0.0 if both == 0 else 2 * both / (len(p) + len(g))


# --- scorer and retriever metrics ---------------------------------------------


def pairwise_accuracy(pairs: Iterable[tuple[float, float, float]]) -> float:
    """Share of human preferences the reward model agrees with.

    Each pair is ``(reward_a, reward_b, human_margin)`` with ``human_margin > 0`` when people
    preferred a. Human ties are skipped; a reward tie counts half (a coin flip).
    """
    agree, total = 0.0, 0
    for ra, rb, margin in pairs:
        if margin == 0:
            continue
        total += 1
        if ra == rb:
            agree += 0.5
        elif (ra > rb) == (margin > 0):
            agree += 1.0
    return agree / total if total else float("nan")


# --- statistics -------------------------------------------------------------------


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between order statistics."""
    if not values:
        return float("nan")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def bootstrap_ci(values: Sequence[float], *, resamples: int = 1000, confidence: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean (seeded, so reports repeat)."""
    n = len(values)
    if n == 0:
        return (float("nan"), float("nan"))
    if n == 1 or resamples <= 0:
        return (values[0], values[0]) if n == 1 else (float("nan"), float("nan"))
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    tail = (1.0 - confidence) / 2 * 100
    return (percentile(means, tail), percentile(means, 100 - tail))
