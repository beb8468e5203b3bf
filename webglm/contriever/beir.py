"""Retrieval evaluation on BEIR-format folders (the layout most IR papers use).

A folder holds ``corpus.jsonl`` (``{"_id", "title", "text"}`` per line),
``queries.jsonl`` (``{"_id", "text"}``) and ``qrels/<split>.tsv`` (tab-separated
``query-id corpus-id score``, with or without that header line). Each document is
indexed as title + text, one passage per document unless a ``split_document``
callable chunks it; a chunked document's score is that of its best passage.

Metrics follow BEIR: nDCG@10 with the graded qrels scores as gains, recall@k and
MRR with the documents of score > 0 as relevant. Queries without a positive
qrel are skipped (and counted), as in BEIR.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

from ..config import RankConfig
from ..errors import InputError
from ..types import Passage
from .index import CorpusIndex
from .lexical import BM25Index
from .metrics import ndcg_at_k, reciprocal_rank, recall_at_k, summarize
from .ranking import ranking_text

MODES = ("bm25", "dense", "hybrid")
LAYOUT = "a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv"
DEPTH = 100  # documents ranked per query: enough for recall@100


@dataclass(frozen=True, slots=True)
class BeirSet:
    """A loaded BEIR folder: documents, the split's queries and their graded judgements."""

    documents: tuple[Passage, ...]
    queries: Mapping[str, str]
    qrels: Mapping[str, Mapping[str, float]]
    skipped: Mapping[str, int]


def is_beir_dir(path: str | Path) -> bool:
    """True when ``path`` is a folder with ``corpus.jsonl`` and ``queries.jsonl``."""
    p = Path(path)
    return p.is_dir() and (p / "corpus.jsonl").is_file() and (p / "queries.jsonl").is_file()


def _need(path: Path) -> Path:
    if not path.is_file():
        raise InputError(f"missing {path}", stage="eval", url=str(path), hint=LAYOUT)
    return path


def _jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    with _need(path).open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                why = getattr(exc, "msg", str(exc))  # .msg exists on JSONDecodeError only
                raise InputError(f"{path}:{line_no}: not valid JSON ({why})", stage="eval", url=str(path),
                                 hint="each line must be one JSON object") from None
            if not isinstance(row, dict) or "_id" not in row:
                raise InputError(f"{path}:{line_no}: a JSON object with an \"_id\" is needed", stage="eval",
                                 url=str(path), hint=LAYOUT)
            yield line_no, row


def _qrels(path: Path) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    with _need(path).open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            cols = line.rstrip("\n").split("\t")
            if not line.strip() or (line_no == 1 and cols[0].strip().lower() in ("query-id", "query_id", "qid")):
                continue
            try:
                qid, doc, score = cols[0].strip(), cols[1].strip(), float(cols[2])
            except (IndexError, ValueError):
                raise InputError(f"{path}:{line_no}: expected 'query-id<TAB>corpus-id<TAB>score', got {line!r}",
                                 stage="eval", url=str(path), hint="qrels files are tab-separated") from None
            out.setdefault(qid, {})[doc] = score
    return out


def load_beir(folder: str | Path, split: str = "test") -> BeirSet:
    """Read a BEIR folder; ``split`` names ``qrels/<split>.tsv``."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"not a folder: {root}", stage="eval", url=str(root), hint=LAYOUT)
    qrels_path = root / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        found = sorted(p.stem for p in (root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []
        raise InputError(f"no qrels for split {split!r}: {qrels_path} is missing", stage="eval", url=str(root),
                         hint=f"splits here: {', '.join(found)}" if found else LAYOUT)
    docs, seen = [], set()
    for line_no, row in _jsonl(root / "corpus.jsonl"):
        did = str(row["_id"])
        if did in seen:
            raise InputError(f"{root / 'corpus.jsonl'}:{line_no}: document id {did!r} appears twice", stage="eval",
                             url=str(root), hint="document ids must be unique")
        seen.add(did)
        docs.append(Passage(id=did, text=str(row.get("text") or ""), url=f"beir:{did}",
                            title=str(row.get("title") or ""), source="local"))
    queries = {str(row["_id"]): str(row.get("text") or "") for _, row in _jsonl(root / "queries.jsonl")}
    qrels = _qrels(qrels_path)
    known = {d.id for d in docs}
    skipped = {"queries_not_found": sum(q not in queries for q in qrels),
               "queries_without_positive": sum(q in queries and not any(s > 0 for s in rel.values())
                                               for q, rel in qrels.items()),
               "judged_documents_not_in_corpus": sum(d not in known for rel in qrels.values() for d in rel),
               "empty_documents": sum(not (d.text.strip() or d.title.strip()) for d in docs)}
    usable = {q: rel for q, rel in qrels.items() if q in queries and any(s > 0 for s in rel.values())}
    if not usable:
        raise InputError(f"no query of {qrels_path} has a positive judgement and a text in queries.jsonl",
                         stage="eval", url=str(root), hint="check that the query ids match between the files")
    kept = tuple(d for d in docs if d.text.strip() or d.title.strip())
    return BeirSet(kept, {q: queries[q] for q in usable}, usable, skipped)


def ranked_documents(index: CorpusIndex, query: str, mode: str, cfg: RankConfig, depth: int) -> list[str]:
    """Document ids, best first, for ``query`` (passage ids ``doc#n`` collapse to ``doc``)."""
    if mode not in MODES:
        raise InputError(f"unknown retrieval mode {mode!r}", stage="eval", hint=f"use one of {', '.join(MODES)}")
    if mode == "bm25":
        ids, _ = index.lexical.top(query, depth)
        hits = [index.passages[int(i)] for i in ids]
    elif mode == "dense":
        qvec = index.encoder.encode([query], "query")[0]
        _, found = index.faiss_index.search(qvec[None, :], min(depth, len(index)))
        hits = [index.passages[int(i)] for i in found[0] if i >= 0]
    else:
        run = dataclasses.replace(cfg, top_k=depth, min_score=-1e9, min_lexical_score=0.0, prefilter=max(cfg.prefilter, depth))
        hits = [r.passage for r in index.rank(query, run).references]
    return list(dict.fromkeys(p.url.removeprefix("beir:") for p in hits))


def _build(passages: list[Passage], encoder, cfg: RankConfig, modes: Sequence[str], progress) -> CorpusIndex:
    if set(modes) == {"bm25"}:  # BM25 alone needs no vectors: skip the encoder entirely
        lexical = BM25Index()
        lexical.add(ranking_text(p) for p in passages)
        return CorpusIndex(encoder, cfg, None, lexical, list(passages))
    return CorpusIndex.build(passages, encoder, cfg, progress=progress)


def evaluate_beir_modes(folder: str | Path, encoder, *, modes: Sequence[str] = MODES, rank: RankConfig | None = None,
                        split: str = "test", limit: int = 0,
                        split_document: Callable[[Passage], Sequence[Passage]] | None = None,
                        progress: Callable[[int, int], None] | None = None) -> dict[str, dict[str, float]]:
    """:func:`evaluate_beir` for several modes over one index (built, and timed, once)."""
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise InputError(f"unknown retrieval mode {', '.join(bad) or '(none)'}", stage="eval",
                         hint=f"use one or more of {', '.join(MODES)}")
    cfg = dataclasses.replace(rank or RankConfig(), mmr_lambda=1.0, per_url_cap=10**9)
    data = load_beir(folder, split)
    passages = [p for d in data.documents for p in (split_document(d) if split_document else [d])]
    t0 = time.perf_counter()
    index = _build(passages, encoder, cfg, modes, progress)
    build = time.perf_counter() - t0
    qids = list(data.queries)[: limit or None]
    depth = DEPTH * (4 if split_document else 1)  # chunked: several passages per document
    results = {}
    for mode in modes:
        rows = []
        t1 = time.perf_counter()
        for qid in qids:
            ranked = ranked_documents(index, data.queries[qid], mode, cfg, depth)[:DEPTH]
            gains = {d: s for d, s in data.qrels[qid].items() if s > 0}
            relevant = set(gains)
            row = {f"recall@{k}": recall_at_k(ranked, relevant, k) for k in (5, 10, 100)}
            row.update(mrr=reciprocal_rank(ranked, relevant), **{"ndcg@10": ndcg_at_k(ranked, gains, 10)})
            rows.append(row)
        seconds = time.perf_counter() - t1
        out = summarize(rows)
        out.update(queries=float(len(rows)), documents=float(len(data.documents)), passages=float(len(passages)),
                   queries_per_s=len(rows) / seconds if seconds else 0.0,
                   index_passages_per_s=len(passages) / build if build else 0.0,
                   **{f"skipped_{k}": float(v) for k, v in data.skipped.items()})
        results[mode] = out
    return results


def evaluate_beir(folder: str | Path, encoder, *, rank: RankConfig | None = None, mode: str = "hybrid",
                  split: str = "test", limit: int = 0,
                  split_document: Callable[[Passage], Sequence[Passage]] | None = None,
                  progress: Callable[[int, int], None] | None = None) -> dict[str, float]:
    """nDCG@10, recall@{5,10,100}, MRR, queries/s and indexing passages/s on a BEIR folder.

    Ranking uses ``rank`` without diversity or a per-source cap (``mmr_lambda=1``), as
    benchmark relevance is measured. ``split_document`` (e.g. the retriever's chunker)
    turns one document into several passages; its passages must keep ``url=beir:<id>``.
    ``index_passages_per_s`` times building the index (BM25 alone for ``bm25``; encoding,
    BM25 and FAISS otherwise).
    """
    return evaluate_beir_modes(folder, encoder, modes=(mode,), rank=rank, split=split, limit=limit,
                               split_document=split_document, progress=progress)[mode]
