"""SQuAD-format reading comprehension data (SQuAD, CMRC 2018, DRCD, ...) as open retrieval QA.

Every question is answered from a corpus of *all* the paragraphs, not from its own
paragraph: :func:`squad_corpus` writes the paragraphs once as Markdown files (one per
paragraph, named by its id, titled by its article) into the cache, and each example records
the file of its source paragraph in ``meta["gold_sources"]`` so that a report can say
whether retrieval found it (``source_hit``).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import EvalError
from .rows import Dataset, Example

_SAFE = re.compile(r"[^\w.-]+")


def _read(path: Path) -> list[Mapping[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad JSON or not UTF-8
        raise EvalError(f"{path} is not a readable SQuAD-format JSON file: {exc}"[:400], url=str(path),
                        hint="pass a file with {\"data\": [{\"title\", \"paragraphs\": [...]}]}") from None
    articles = data.get("data") if isinstance(data, Mapping) else None
    if not isinstance(articles, list):
        raise EvalError(f"{path} has no top-level \"data\" list, so it is not SQuAD format", url=str(path),
                        hint="pick the right --format for this file")
    return articles


def _paragraphs(articles: list[Mapping[str, Any]], path: Path):
    """(paragraph id, title, context, qas) for every paragraph, ids made file-name safe."""
    for a, article in enumerate(articles):
        for p, para in enumerate(article.get("paragraphs") or []):
            if not isinstance(para, Mapping) or not isinstance(para.get("context"), str):
                raise EvalError(f"{path}: article {a} paragraph {p} has no \"context\" string", url=str(path),
                                hint="each paragraph needs \"context\" and \"qas\"")
            pid = _SAFE.sub("_", str(para.get("id") or f"a{a}p{p}"))
            yield pid, str(article.get("title") or ""), para["context"], para.get("qas") or []


def load_squad(path: str | Path, *, sample: int | None = None, seed: int = 0) -> Dataset:
    """One :class:`Example` per question with all its gold answer texts; ``sample`` keeps a
    fixed random subset of that many questions (same ``seed``, same subset)."""
    p = Path(path)
    examples = []
    for pid, _title, _context, qas in _paragraphs(_read(p), p):
        for q, qa in enumerate(qas):
            question = str(qa.get("question") or "").strip()
            answers = tuple(dict.fromkeys(str(a.get("text", "")).strip() for a in qa.get("answers") or []
                                          if str(a.get("text", "")).strip()))
            if not question or not answers:
                continue  # unanswerable (SQuAD 2.0) or empty rows carry no gold answer to check
            examples.append(Example(str(qa.get("id") or f"{pid}-q{q}"), question, answers,
                                    meta={"gold_sources": [f"{pid}.md"]}))
    if not examples:
        raise EvalError(f"{p} has no answerable questions", url=str(p))
    if sample is not None and sample < len(examples):
        keep = set(random.Random(seed).sample(range(len(examples)), sample))
        examples = [ex for i, ex in enumerate(examples) if i in keep]
    return Dataset(p.stem, "squad", "short", tuple(examples), source=str(p))


def squad_corpus(path: str | Path, cache_dir: str | Path) -> Path:
    """The folder of paragraph files for ``path`` under ``cache_dir`` (written on first use,
    keyed by the file's content so an edited file gets a new corpus)."""
    p = Path(path)
    digest = hashlib.sha256(p.read_bytes()).hexdigest()[:16]
    out = Path(cache_dir) / "squad" / f"{_SAFE.sub('_', p.stem)}-{digest}"
    if (out / ".complete").exists():
        return out
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for pid, title, context, _qas in _paragraphs(_read(p), p):
        heading = " ".join(title.split()) or pid
        (tmp / f"{pid}.md").write_text(f"# {heading}\n\n{context.strip()}\n", encoding="utf-8")
    (tmp / ".complete").write_text("", encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


def looks_like_squad(head: str) -> bool:
    """Whether the first characters of a JSON file look like SQuAD format."""
    return head.lstrip().startswith("{") and '"data"' in head and ('"paragraphs"' in head or '"title"' in head)
