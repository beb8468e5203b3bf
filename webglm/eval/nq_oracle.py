"""NQ-open with gold passages ("nq-open-oracle", from the lost-in-the-middle release).

Each row is ``{"question", "answers": [...], "ctxs": [{"title", "text", "isgold", ...}]}``,
optionally gzip-compressed. Two ways to answer it:

- *corpus* (the default of ``webglm eval --format nq-oracle``): the passages of **every**
  question form one local corpus, indexed once and cached, and each question is answered
  from the whole corpus, so retrieval is part of the test (``hit_at_5`` says whether the
  question's gold passage was among the references);
- *given passages* (``--given-passages``): each question gets its own passages as the
  references, the oracle setting of the published table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

from ..types import Passage, Reference
from .rows import BadRow as _BadRow
from .rows import Collector as _Collector
from .rows import Dataset, Example, iter_jsonl, question_id
from .rows import strings_field as _strings
from .rows import text_field as _text

FORMAT = "nq-oracle"


def passage_id(title: str, text: str) -> str:
    """Stable id of a corpus passage: a hash of its title and text."""
    return "nq-" + hashlib.sha1(f"{title}\0{text}".encode("utf-8")).hexdigest()[:16]


def _raise(message: str) -> Example:
    raise _BadRow(message)


def _passages(ctxs: Any) -> list[Passage]:
    if not isinstance(ctxs, list) or not ctxs:
        raise _BadRow("ctxs must be a non-empty list of {title, text} passages")
    out = []
    for i, ctx in enumerate(ctxs):
        if not isinstance(ctx, Mapping) or not isinstance(ctx.get("text"), str) or not ctx["text"].strip():
            raise _BadRow(f"ctxs[{i}] needs a non-empty string 'text'")
        title, text = str(ctx.get("title") or ""), ctx["text"].strip()
        pid = passage_id(title, text)
        out.append(Passage(id=pid, text=text, url=f"nq-oracle:{pid}", title=title, end=len(text),
                           source="local"))
    return out


def _row(row: Any) -> Example:
    if not isinstance(row, Mapping):
        raise _BadRow("row is not a JSON object")
    q = _text(row.get("question"), "question")
    answers = _strings(row.get("answers", row.get("answer")), "answers")
    passages = _passages(row.get("ctxs"))
    gold = [p.id for p, ctx in zip(passages, row["ctxs"]) if ctx.get("isgold", True)]
    refs = tuple(Reference(i, p, 0.0) for i, p in enumerate(passages, 1))
    return Example(question_id(q), q, answers, refs, {"gold_passages": gold})


def load_nq_oracle(path: str | Path, *, skip_bad_rows: bool = False) -> Dataset:
    """Load an nq-open-oracle file (``.jsonl`` or ``.jsonl.gz``)."""
    p = Path(path)
    col = _Collector(p, skip_bad_rows)
    for where, row in iter_jsonl(p, col):  # a damaged .gz is an EvalError there
        col.add(where, lambda row=row: _row(row))
    name = p.name.split(".")[0]
    return col.done(name, FORMAT, "short")


def corpus_passages(dataset: Dataset) -> list[Passage]:
    """Every distinct passage of every question, in file order."""
    seen: dict[str, Passage] = {}
    for ex in dataset.examples:
        for ref in ex.references:
            seen.setdefault(ref.passage.id, ref.passage)
    return list(seen.values())


def build_oracle_corpus(dataset: Dataset, encoder: Any, config: Any,
                        progress: Callable[[str], None] | None = None) -> Path:
    """Index all passages of ``dataset`` once; returns the cached index folder.

    The cache key covers the passages, the encoder and the ranking settings that shape the
    index, so a changed file or model builds a new index."""
    from ..contriever import CorpusIndex, is_index_dir

    passages = corpus_passages(dataset)
    h = hashlib.sha256(encoder.model_id.encode())
    h.update(str(config.rank.similarity).encode())
    for p in passages:
        h.update(p.id.encode())
    out = config.resolved_cache_dir() / "nq-oracle" / h.hexdigest()[:20]
    if is_index_dir(out):
        return out
    if progress:
        progress(f"indexing {len(passages)} passages of {len(dataset)} questions into {out}")

    def step(done: int, total: int) -> None:
        if progress and total and (done == total or done % 500 < config.rank.batch_size):
            progress(f"encoded {done}/{total} passages")

    index = CorpusIndex.build(passages, encoder, config.rank, progress=step)
    index.save(out)
    return out
