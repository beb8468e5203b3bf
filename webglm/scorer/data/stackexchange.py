"""Preference pairs from Stack Exchange dumps, following WebGLM's scorer recipe.

WebGLM built its reward-model data from QA-forum upvotes: answers with more than 3
upvotes, questions with at least 8 such answers, pairs more than 5 rank positions
apart, long answers truncated to the median length and answers shorter than half
the median dropped (to stop the model from learning "longer is better"). Those
thresholds suit a crawl of 249k pairs; on the small public dumps they leave a few
dozen pairs, so :class:`StackExchangeRecipe`'s defaults keep every pair of answers
to one question at least 2 votes apart, without the length mitigation (it can be
switched on). ``StackExchangeRecipe.webglm()`` gives the paper's values.
"""

from __future__ import annotations

import dataclasses
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from ...errors import InputError
from ...stackexchange import Post, html_to_text, read_posts, site_name
from .pairs import PreferencePair

__all__ = ["Post", "StackExchangeRecipe", "build_stackexchange_pairs", "count_words", "debiased",
           "html_to_text", "posted_later", "read_posts", "score_ratio", "truncate_words"]

_WORD = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class StackExchangeRecipe:
    """Thresholds of the pair builder (all configurable)."""

    min_answer_score: int | None = None  # WebGLM: > 3 upvotes, i.e. 4; None keeps every answer
    min_answers: int = 2  # WebGLM: 8 qualifying answers per question
    min_score_gap: int = 2  # the vote difference a pair needs (ties never form pairs)
    min_rank_gap: int = 1  # WebGLM: > 5 positions apart in the question's ranking
    # WebGLM's length-bias mitigation. Off by default here: on the small public dumps,
    # dropping short answers halves the data (4.7k -> 2.5k pairs) and truncation ties
    # 43% of the remaining pairs on length; the scorer keeps length as an explicit feature.
    truncate_to_median: bool = False  # WebGLM: cut answers longer than the median length
    drop_below_half_median: bool = False  # WebGLM: drop answers shorter than half the median
    max_pairs_per_question: int | None = None  # cap so a few busy questions cannot dominate
    # Stanford SHP's de-biasing: votes favour whoever answered first, so keep a pair only
    # when the preferred answer was posted later (CreationDate) and won by a score ratio.
    later_preferred: bool = False
    min_score_ratio: float = 1.0  # SHP: 2.0; see score_ratio()

    def __post_init__(self) -> None:
        if self.min_answers < 2:
            raise InputError("min_answers must be >= 2", hint="a pair needs two answers")
        if self.min_score_gap < 1 or self.min_rank_gap < 1:
            raise InputError("min_score_gap and min_rank_gap must be >= 1")
        if not self.min_score_ratio >= 1.0:  # "not >=" also rejects NaN
            raise InputError(f"min_score_ratio must be >= 1, got {self.min_score_ratio}",
                             hint="SHP used 2.0; 1.0 keeps every pair")

    @classmethod
    def webglm(cls) -> StackExchangeRecipe:
        """The thresholds of the WebGLM paper (suited to large crawls)."""
        return cls(
            min_answer_score=4, min_answers=8, min_score_gap=1, min_rank_gap=6,
            truncate_to_median=True, drop_below_half_median=True,
        )

    @classmethod
    def shp(cls) -> StackExchangeRecipe:
        """Stanford SHP's filter: the preferred answer was posted later and scored at least twice as much."""
        return cls(later_preferred=True, min_score_ratio=2.0)


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def truncate_words(text: str, n: int) -> str:
    """Keep the first ``n`` words of ``text``, preserving its line structure."""
    for i, match in enumerate(_WORD.finditer(text)):
        if i + 1 == n:
            return text[: match.end()]
    return text


def score_ratio(chosen_score: int, rejected_score: int) -> float:
    """How many times the chosen answer's score the rejected one's is: ``chosen / rejected``;
    infinite when only the chosen answer scored above zero, 0 when neither did."""
    if chosen_score <= 0:
        return 0.0
    return chosen_score / rejected_score if rejected_score > 0 else float("inf")


def posted_later(a: Post, b: Post) -> bool:
    """Whether ``a`` was posted after ``b``: by CreationDate, by post id (ids follow posting
    time) when the dates are equal or missing."""
    if a.created and b.created and a.created != b.created:
        return a.created > b.created
    return _id_number(a.id) > _id_number(b.id)


def _id_number(pid: str) -> int:
    return int(pid) if pid.isdigit() else -1


def _keeps(a: Post, b: Post, rank: dict[str, int], recipe: StackExchangeRecipe) -> bool:
    """Whether ``a`` (higher score) over ``b`` makes a pair under ``recipe``."""
    if a.score - b.score < recipe.min_score_gap or rank[b.id] - rank[a.id] < recipe.min_rank_gap:
        return False
    if recipe.later_preferred and not posted_later(a, b):
        return False
    return score_ratio(a.score, b.score) >= recipe.min_score_ratio


def _question_pairs(question: str, group: str, answers: list[Post], recipe: StackExchangeRecipe, site: str):
    ranked = sorted(answers, key=lambda a: -a.score)
    rank = {a.id: i for i, a in enumerate(ranked)}
    out = []
    for a, b in combinations(ranked, 2):
        if _keeps(a, b, rank, recipe):
            meta: dict[str, float | int | str] = {"chosen_score": a.score, "rejected_score": b.score, "chosen_id": a.id, "rejected_id": b.id,
                    "chosen_created": a.created, "rejected_created": b.created,
                    "later_won": int(posted_later(a, b))}
            out.append(PreferencePair(question, a.text, b.text, group, site, float(a.score - b.score), meta))
    if recipe.max_pairs_per_question is not None:
        out.sort(key=lambda p: -p.margin)  # keep the clearest preferences
        out = out[: recipe.max_pairs_per_question]
    return out


def _dump_files(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    files: list[Path] = []
    for item in map(Path, items):
        files.extend(sorted(item.glob("*Posts.xml")) if item.is_dir() else [item])
    if not files:
        raise InputError(f"no *Posts.xml files found in {items}", hint="point at a Stack Exchange dump folder")
    return files


def build_stackexchange_pairs(
    paths: str | Path | Iterable[str | Path], recipe: StackExchangeRecipe | None = None
) -> list[PreferencePair]:
    """Build preference pairs from one or more dumps (files or folders of ``*Posts.xml``).

    Per site: keep answers above ``min_answer_score``; apply the length mitigation
    against the site's median answer length (in words); keep questions with at least
    ``min_answers`` answers; pair answers whose votes differ by ``min_score_gap`` and
    whose ranks differ by ``min_rank_gap``. The higher-voted answer is ``chosen``.
    """
    recipe = recipe or StackExchangeRecipe()
    pairs: list[PreferencePair] = []
    for path in _dump_files(paths):
        site = site_name(path)
        questions: dict[str, str] = {}
        answers: dict[str, list[Post]] = {}
        for post in read_posts(path):
            if post.kind == "question":
                questions[post.id] = f"{post.title}\n\n{post.text}".strip()
            elif recipe.min_answer_score is None or post.score >= recipe.min_answer_score:
                answers.setdefault(post.parent, []).append(post)
        pairs.extend(_site_pairs(site, questions, answers, recipe))
    return pairs


def _site_pairs(site, questions, answers, recipe) -> list[PreferencePair]:
    lengths = [count_words(a.text) for group in answers.values() for a in group]
    median = int(statistics.median(lengths)) if lengths else 0
    out: list[PreferencePair] = []
    for qid, group in answers.items():
        if qid not in questions:
            continue
        kept = []
        for a in group:
            n = count_words(a.text)
            if recipe.drop_below_half_median and n < median / 2:
                continue
            if recipe.truncate_to_median and n > median > 0:
                a = dataclasses.replace(a, text=truncate_words(a.text, median))
            kept.append(a)
        if len(kept) >= recipe.min_answers:
            out.extend(_question_pairs(questions[qid], f"{site}/{qid}", kept, recipe, site))
    return out


def debiased(pairs: Iterable[PreferencePair], min_score_ratio: float = 2.0) -> list[PreferencePair]:
    """The SHP-style subset of Stack Exchange pairs already built: the preferred answer was
    posted later and scored at least ``min_score_ratio`` times the other (``score_ratio``).
    Pairs without the Stack Exchange metadata are left out."""
    out = []
    for p in pairs:
        meta = p.meta
        if "later_won" not in meta or not int(meta["later_won"]):
            continue
        if score_ratio(int(meta["chosen_score"]), int(meta["rejected_score"])) >= min_score_ratio:
            out.append(p)
    return out
