"""A persistent local corpus index: passages + FAISS vectors + a BM25 lexical index.

Layout of an index folder::

    meta.json        format version, encoder model_id, dim, count, FAISS kind, the vector
                     settings (similarity, quantize, ...) and a SHA-256 of each other file
    passages.jsonl   one Passage per line, in vector-id order
    vectors.faiss    IndexFlatIP (exact) below ``rank.hnsw_threshold`` passages, HNSW above
    lexical.npz      BM25 postings;  lexical_terms.json  its vocabulary

Passages are indexed (BM25 and vectors) as title + text (:func:`.ranking.ranking_text`).
Ranking a question never re-encodes stored passages: dense scores of the BM25
candidates come from the vectors kept in FAISS.
"""

from __future__ import annotations

import json
import os
import time
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..config import RankConfig
from ..errors import CorpusError, ModelError
from ..text import TEXT_VERSION, detect_language
from ..types import Passage, from_dict, to_dict
from .lexical import BM25Index
from .persist import Writer, check_settings, locked_folder, settings_of, verify, write_error
from .crosslingual import foreign_mask, translation
from .ranking import Ranking, assemble, check_question, covers, ranking_text

FORMAT = "webglm-corpus-index/1"
FILES = ("meta.json", "passages.jsonl", "vectors.faiss", "lexical.npz", "lexical_terms.json")
INDEXED = "title+text"  # what the vectors and BM25 saw; indexes without this key saw the text alone
HNSW_M = 32  # links per node: the usual recall/memory balance for a few hundred dims


def is_index_dir(path: str | os.PathLike) -> bool:
    """True when ``path`` holds a saved :class:`CorpusIndex` (by its meta.json format tag)."""
    meta = Path(path) / "meta.json"
    try:
        return json.loads(meta.read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _faiss() -> Any:
    import faiss

    return faiss


class CorpusIndex:
    """Dense + lexical index over a fixed, growable set of passages."""

    def __init__(self, encoder, rank: RankConfig, faiss_index: Any, lexical: BM25Index,
                 passages: list[Passage]):
        self.encoder = encoder
        self.rank_config = rank
        self.faiss_index = faiss_index
        self.lexical = lexical
        self._passages = passages
        self._foreign: dict[str, np.ndarray | None] = {}  # per question language, see foreign_mask

    def __len__(self) -> int:
        return len(self._passages)

    @property
    def passages(self) -> tuple[Passage, ...]:
        return tuple(self._passages)

    @property
    def kind(self) -> str:
        return "hnsw" if "HNSW" in type(self.faiss_index).__name__ else "flat"

    # --- building -----------------------------------------------------------------

    @classmethod
    def build(cls, passages: Iterable[Passage], encoder, rank: RankConfig | None = None,
              progress: Callable[[int, int], None] | None = None) -> "CorpusIndex":
        """Encode and index ``passages``; ``progress(done, total)`` is called after each batch."""
        rank = rank or RankConfig()
        index = cls(encoder, rank, None, BM25Index(), [])
        index.add(passages, progress=progress)
        return index

    def add(self, passages: Iterable[Passage], progress: Callable[[int, int], None] | None = None) -> int:
        """Append passages (incremental update); returns how many were added."""
        new = list(passages)
        if not new:
            return 0
        return self._append(new, self._encode(new, progress))

    def _append(self, new: list[Passage], vecs: np.ndarray) -> int:
        if self.faiss_index is None:
            self.faiss_index = _faiss().IndexFlatIP(vecs.shape[1])
        if vecs.shape[1] != self.faiss_index.d:
            raise ModelError(f"encoder gives {vecs.shape[1]}-d vectors, the index holds {self.faiss_index.d}-d",
                             stage="rank", hint="use the encoder the index was built with")
        self.faiss_index.add(vecs)
        self.lexical.add(ranking_text(p) for p in new)
        self._passages.extend(new)
        self._foreign.clear()
        if self.kind == "flat" and len(self._passages) > self.rank_config.hnsw_threshold:
            self._to_hnsw()
        return len(new)

    def _encode(self, passages: Sequence[Passage], progress) -> np.ndarray:
        size = max(self.rank_config.batch_size * 8, 256)  # chunks big enough for length sorting to pay
        parts = []
        for start in range(0, len(passages), size):
            parts.append(self.encoder.encode([ranking_text(p) for p in passages[start:start + size]], "passage"))
            if progress is not None:
                progress(min(start + size, len(passages)), len(passages))
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)

    def _to_hnsw(self) -> None:
        """Exact search costs O(n) per query; past the threshold an HNSW graph answers in ~log n."""
        faiss = _faiss()
        flat = self.faiss_index
        vecs = flat.reconstruct_n(0, flat.ntotal)
        hnsw = faiss.IndexHNSWFlat(flat.d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efSearch = max(64, self.rank_config.prefilter)
        hnsw.add(vecs)
        self.faiss_index = hnsw

    def count(self) -> int:
        """Passages stored (the :class:`~webglm.protocols.CorpusStore` spelling of ``len``)."""
        return len(self._passages)

    def delete_source(self, source: str) -> int:
        """Drop every passage of one document (``file:docs/x.md``), keeping the stored vectors
        of the rest (no re-encoding); returns how many were dropped."""
        keep = [i for i, p in enumerate(self._passages) if p.url.split("#", 1)[0] != source]
        dropped = len(self._passages) - len(keep)
        if dropped:
            vecs, kept = self.vectors(keep), [self._passages[i] for i in keep]
            self.faiss_index, self.lexical, self._passages = None, BM25Index(), []
            self._foreign.clear()
            if kept:
                self._append(kept, np.ascontiguousarray(vecs, dtype=np.float32))
        return dropped

    # --- ranking --------------------------------------------------------------------

    def vectors(self, ids: "Sequence[int] | np.ndarray") -> np.ndarray:
        """Stored vectors of passages ``ids`` (no re-encoding)."""
        if len(ids) == 0:
            return np.zeros((0, self.faiss_index.d if self.faiss_index is not None else 1), dtype=np.float32)
        return np.stack([self.faiss_index.reconstruct(int(i)) for i in ids])

    def candidates(self, question: str, qvec: np.ndarray, k: int, lexical: np.ndarray | None = None) -> np.ndarray:
        """Union of the BM25 top-k and the dense top-k (ids, BM25 order first); ``lexical``:
        the BM25 scores of every passage when already computed."""
        if lexical is None:
            lex_ids, _ = self.lexical.top(question, k)
        else:
            lex_ids = np.argsort(-lexical, kind="stable")[:k]
        _, dense_ids = self.faiss_index.search(qvec[None, :].astype(np.float32), min(k, len(self)))
        seen = dict.fromkeys(int(i) for i in lex_ids)
        seen.update(dict.fromkeys(int(i) for i in dense_ids[0] if i >= 0))
        return np.fromiter(seen, dtype=np.int64, count=len(seen))

    def _foreign_mask(self, question: str, rank: RankConfig) -> np.ndarray | None:
        """:func:`.ranking.foreign_mask` of the stored passages, kept per question language."""
        key = f"{rank.languages}:{rank.translate}:{detect_language(question)}"
        if key not in self._foreign:
            self._foreign[key] = foreign_mask(question, [ranking_text(p) for p in self._passages], rank)
        return self._foreign[key]

    def rank(self, question: str, rank: RankConfig | None = None) -> Ranking:
        """Hybrid ranking of the stored passages for ``question`` (see :mod:`.ranking`; a
        Chinese question over English passages also asks its translation, :mod:`.crosslingual`)."""
        cfg = rank or self.rank_config
        question = check_question(question)
        if not self._passages:
            return Ranking((), True, {"total": 0.0}, {"passages": 0.0})
        t0 = time.perf_counter()
        qvec = self.encoder.encode([question], "query")[0]
        tr = translation(question, self._foreign_mask(question, cfg))
        t1 = time.perf_counter()
        ids = self.candidates(question, qvec, cfg.prefilter)
        translated = None
        if tr is not None:  # the translation's BM25 candidates join the question's own
            t_lexical = tr.lexical(self.lexical)
            # only passages the translation matched: padding with unmatched ones would change
            # the candidate set, and with it MMR's relevance scale, for every question
            matched = np.flatnonzero(t_lexical > 0)
            more = matched[np.argsort(-t_lexical[matched], kind="stable")[: cfg.prefilter]]
            ids = np.fromiter(dict.fromkeys([*map(int, ids), *map(int, more)]), dtype=np.int64)
            translated = (t_lexical[ids], tr.foreign[ids])
        vecs = self.vectors(ids)
        lexical = self.lexical.scores(question)[ids]
        t2 = time.perf_counter()
        refs, abstained, best = assemble([self._passages[i] for i in ids], vecs, vecs @ qvec, lexical, cfg,
                                         covers(self.encoder, question, cfg), translated)
        t3 = time.perf_counter()
        timings = {"encode": t1 - t0, "search": t2 - t1, "select": t3 - t2, "total": t3 - t0}
        counters = {"passages": float(len(self)), "candidates": float(len(ids))}
        return Ranking(refs, abstained, timings, counters, best)

    # --- persistence ------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write the index folder: under a lock, through unique temporary names, meta.json last.

        Raises CorpusError (naming the folder) when it cannot be written, e.g. a full disk.
        """
        out = Path(path)
        with locked_folder(out):
            writer = Writer(out)
            try:
                self._write_files(writer)
                writer.commit()
                meta = {"format": FORMAT, "model_id": self.encoder.model_id, "count": len(self), "indexed": INDEXED,
                        "dim": int(self.faiss_index.d) if self.faiss_index is not None else 0, "kind": self.kind,
                        "tokenizer": TEXT_VERSION, "settings": settings_of(self.rank_config),
                        "sha256": writer.sums}
                # meta.json last: a folder without it is not an index, and until it is replaced
                # the old checksums reject the new files, so a crash mid-save is visible
                writer.write("meta.json", lambda tmp: tmp.write_text(json.dumps(meta, indent=1), "utf-8"),
                             checksum=False)
                writer.commit()
            except (OSError, RuntimeError) as exc:  # faiss reports write errors as RuntimeError
                raise write_error(out, exc) from None
            finally:
                writer.discard()
        return out

    def _write_files(self, writer: Writer) -> None:
        lines = "".join(json.dumps(to_dict(p), ensure_ascii=False) + "\n" for p in self._passages)
        writer.write("passages.jsonl", lambda tmp: tmp.write_text(lines, encoding="utf-8"))
        if self.faiss_index is not None:
            faiss = _faiss()
            # serialised in memory and written by Python: faiss's own file writer prints to the
            # terminal when a write fails (a full disk) besides raising
            writer.write("vectors.faiss", lambda tmp: tmp.write_bytes(faiss.serialize_index(self.faiss_index)))
        writer.write("lexical.npz", lambda tmp: _savez(tmp, self.lexical.to_arrays()))
        writer.write("lexical_terms.json", lambda tmp: tmp.write_text(json.dumps(self.lexical.terms()), "utf-8"))

    @classmethod
    def load(cls, path: str | os.PathLike, encoder, rank: RankConfig | None = None) -> "CorpusIndex":
        """Open a saved index; the encoder and the vector settings must be the ones it was built with."""
        folder = Path(path)
        if not is_index_dir(folder):
            raise CorpusError(f"no corpus index at {folder}", url=str(folder),
                              hint="build one with `webglm index` or CorpusIndex.build(...).save(dir)")
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("model_id") != encoder.model_id:
            raise ModelError(f"index was built with encoder {meta.get('model_id')!r}, not {encoder.model_id!r}",
                             stage="rank", url=str(folder),
                             hint="load it with the same rank.encoder/rank.model, or rebuild the index")
        check_settings(meta, rank, folder)
        try:
            verify(folder, meta)
            return cls._read(folder, meta, encoder, rank or RankConfig())
        except (OSError, ValueError, KeyError, TypeError, RuntimeError, EOFError, zipfile.BadZipFile) as exc:
            raise CorpusError(f"corpus index at {folder} is corrupt: {exc}", url=str(folder),
                              hint="rebuild the index", runtime=True) from exc

    @classmethod
    def _read(cls, folder: Path, meta: dict, encoder, rank: RankConfig) -> "CorpusIndex":
        passages = [from_dict(Passage, json.loads(line))
                    for line in (folder / "passages.jsonl").read_text(encoding="utf-8").splitlines() if line]
        faiss_index = _faiss().read_index(str(folder / "vectors.faiss")) if meta["count"] else None
        terms = json.loads((folder / "lexical_terms.json").read_text(encoding="utf-8"))
        with np.load(folder / "lexical.npz") as arrays:
            lexical = BM25Index.from_arrays(terms, dict(arrays))
        if meta.get("tokenizer") != TEXT_VERSION:  # terms made by an older tokenizer: re-index the text
            lexical = BM25Index(lexical.k1, lexical.b)
            lexical.add(p.text for p in passages)
        counts = {len(passages), len(lexical), faiss_index.ntotal if faiss_index is not None else 0}
        if counts != {int(meta["count"])}:
            raise ValueError(f"files disagree on the passage count (meta {meta['count']}, found {sorted(counts)})")
        return cls(encoder, rank, faiss_index, lexical, passages)


def _savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with path.open("wb") as fh:  # a file object stops numpy from appending ".npz" to the temp name
        np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
