"""Preference data for the scorer: pair builders, loaders and grouped splits.

Pure Python (no torch): safe to import anywhere.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import InputError
from ...types import Failure
from .formats import (
    FORMATS,
    detect_format,
    load_pairs_jsonl,
    load_shp,
    load_webgpt_comparisons,
    split_dialogue,
)
from .pairs import PairSplits, PreferencePair, grouped_split, site_split, write_pairs_jsonl
from .stackexchange import (
    StackExchangeRecipe,
    build_stackexchange_pairs,
    count_words,
    debiased,
    html_to_text,
    posted_later,
    read_posts,
    score_ratio,
    truncate_words,
)


def load_pairs(
    path: str | Path,
    fmt: str = "auto",
    *,
    recipe: StackExchangeRecipe | None = None,
    failures: list[Failure] | None = None,
) -> list[PreferencePair]:
    """Load pairs from any supported source; ``fmt`` is one of :data:`FORMATS`."""
    if fmt not in FORMATS:
        raise InputError(f"unknown preference format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "stackexchange":
        return build_stackexchange_pairs(path, recipe)
    if fmt == "webgpt":
        return load_webgpt_comparisons(path, failures=failures)
    if fmt == "shp":
        return load_shp(path, failures=failures)
    return load_pairs_jsonl(path, failures=failures)


__all__ = [
    "FORMATS", "PairSplits", "PreferencePair", "StackExchangeRecipe", "build_stackexchange_pairs",
    "count_words", "debiased", "detect_format", "grouped_split", "html_to_text", "load_pairs",
    "load_pairs_jsonl", "load_shp", "load_webgpt_comparisons", "posted_later", "read_posts", "score_ratio",
    "site_split", "split_dialogue", "truncate_words", "write_pairs_jsonl",
]
