"""A corpus in Milvus: dense vectors + Milvus's built-in BM25 full-text search, ranked like the FAISS index.

``milvus-lite:PATH.db`` opens the embedded engine (the ``milvus-lite`` wheel, in-process,
offline); ``milvus://HOST:PORT/collection`` a Milvus server or cluster (token from
``$MILVUS_TOKEN``). The same pymilvus client code serves both.

One corpus is two collections: ``<name>`` holds one row per passage (text with a BM25
function that fills a sparse vector, the dense vector, url, title, offsets, source file,
token count) and ``<name>_files`` the files indexed so far plus a ``__meta__`` row
(format, encoder, dimension, token total), which incremental indexing reads.

Ranking a question: Milvus returns the BM25 top-k (sparse search) and the dense top-k
(inner product, as FAISS); their union is scored exactly as :class:`CorpusIndex` scores
it, BM25 divided by the query's attainable maximum with collection statistics from
Milvus (row count, per-term document counts via ``TEXT_MATCH``, mean length), fused with
the dense score and selected by MMR (:func:`.ranking.assemble`). The fused scores
therefore sit on the same absolute scale, and one abstention threshold serves both stores.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..config import RankConfig
from ..errors import ConfigError, CorpusError, ModelError
from ..types import Passage
from .lexical import tokenize
from .ranking import Ranking, assemble, check_question, ranking_text

FORMAT = "webglm-milvus/1"
LITE, SERVER = "milvus-lite:", "milvus://"
META = "__meta__"
K1, B = 1.2, 0.75  # the FAISS path's BM25 parameters, so both stores score alike
MAX_TEXT, MAX_URL, MAX_TITLE = 65_535, 4_096, 1_024
QUERY_LIMIT = 16_384  # Milvus caps one query's result window here
# The terms are webglm's own (lexical.tokenize), joined by spaces and made ASCII (_term): Milvus's
# standard tokenizer then keeps each one whole, CJK bigrams included.
ANALYZER = {"tokenizer": "standard"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,200}")


def is_milvus_uri(value: object) -> bool:
    """True for ``milvus-lite:...`` and ``milvus://...`` corpus arguments."""
    return isinstance(value, str) and value.startswith((LITE, SERVER))


def parse_uri(uri: str) -> tuple[str, str, bool]:
    """(client uri, collection name, is_lite) of a corpus argument; raises ConfigError."""
    if uri.startswith(LITE):
        path, _, name = uri[len(LITE):].partition("#")
        if not path.endswith(".db"):
            raise ConfigError(f"milvus-lite needs a file ending in .db, got {path!r}",
                              hint="e.g. --corpus milvus-lite:docs.db (created on first index build)")
        name = name or re.sub(r"\W", "_", Path(path).stem) or "corpus"
        if name[0].isdigit():
            name = "c_" + name
        client = str(Path(path).expanduser().resolve())
    elif uri.startswith(SERVER):
        rest = uri[len(SERVER):]
        host, _, name = rest.partition("/")
        if not host or not name:
            raise ConfigError(f"expected milvus://HOST:PORT/collection, got {uri!r}",
                              hint="e.g. --corpus milvus://127.0.0.1:19530/docs")
        client = f"http://{host}"
    else:
        raise ConfigError(f"not a Milvus corpus: {uri!r}", hint="use milvus-lite:PATH.db or milvus://HOST:PORT/NAME")
    if not _NAME.fullmatch(name):
        raise ConfigError(f"invalid Milvus collection name {name!r}",
                          hint="use letters, digits and underscores, starting with a letter")
    return client, name, uri.startswith(LITE)


def source_of(passage: Passage) -> str:
    """The document a passage comes from: its URL without the ``#L<line>`` anchor."""
    return passage.url.split("#", 1)[0]


def _quote(value: str) -> str:
    return json.dumps(value)  # a Milvus filter string literal: double quotes, backslash escapes


def _pymilvus() -> Any:
    try:
        import pymilvus
    except ImportError:
        raise ConfigError("Milvus corpora need pymilvus (and milvus-lite for .db files)",
                          hint="pip install 'webglm[milvus]'") from None
    return pymilvus


class MilvusStore:
    """A :class:`~webglm.protocols.CorpusStore` in one Milvus collection pair."""

    def __init__(self, uri: str, encoder, rank: RankConfig | None = None):
        self.uri = uri
        self.client_uri, self.name, self.lite = parse_uri(uri)
        self.files_name = self.name + "_files"
        self.encoder = encoder
        self.rank_config = rank or RankConfig()
        self._client: Any = None
        self._meta: dict[str, Any] = {}
        self._df: dict[str, int] = {}  # per-term document counts; cleared on every write
        self._lock = threading.Lock()

    # --- connection and schema ------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            pm = _pymilvus()
            if self.lite:
                Path(self.client_uri).parent.mkdir(parents=True, exist_ok=True)
            try:
                self._client = pm.MilvusClient(self.client_uri, token=os.environ.get("MILVUS_TOKEN", ""))
            except Exception as exc:  # noqa: BLE001 - pymilvus raises many kinds; all mean "cannot open"
                raise CorpusError(f"cannot open Milvus at {self.client_uri}: {exc}", url=self.uri,
                                  hint="is the server running (milvus://) or milvus-lite installed?",
                                  runtime=True) from None
        return self._client

    def exists(self) -> bool:
        return bool(self.client.has_collection(self.name) and self.client.has_collection(self.files_name))

    def open(self, *, create: bool = False) -> "MilvusStore":
        """Connect and check the collection (or create it when ``create``)."""
        if not self.exists():
            if not create:
                raise CorpusError(f"no webglm corpus {self.name!r} in {self.client_uri}", url=self.uri,
                                  hint=f"build it first: webglm index build DIR --store {self.uri}")
            self._create()
        for name in (self.name, self.files_name):  # a reopened collection starts released
            self.client.load_collection(name)
        meta = self._file_rows([META]).get(META)
        if not meta or meta.get("format") != FORMAT:
            raise CorpusError(f"collection {self.name!r} was not made by webglm", url=self.uri,
                              hint="pick another collection name")
        if meta.get("model_id") != self.encoder.model_id:
            raise ModelError(f"corpus was indexed with encoder {meta.get('model_id')!r}, not "
                             f"{self.encoder.model_id!r}", stage="rank", url=self.uri,
                             hint="use the same rank.encoder/rank.model, or index into a new collection")
        self._meta = meta
        return self

    def _create(self) -> None:
        pm = _pymilvus()
        dt = pm.DataType
        dim = int(self.encoder.encode(["dimension probe"], "passage").shape[1])
        schema = pm.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pk", dt.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("text", dt.VARCHAR, max_length=MAX_TEXT)
        # webglm's own BM25 terms of title + text (what the index folder scores): Milvus's BM25 and
        # TEXT_MATCH then count exactly webglm's terms
        schema.add_field("terms", dt.VARCHAR, max_length=MAX_TEXT, enable_analyzer=True,
                         analyzer_params=ANALYZER, enable_match=True)
        for name, size in (("url", MAX_URL), ("title", MAX_TITLE), ("source", MAX_URL), ("kind", 32)):
            schema.add_field(name, dt.VARCHAR, max_length=size)
        for name in ("start", "end", "n_tokens"):
            schema.add_field(name, dt.INT64)
        schema.add_field("sparse", dt.SPARSE_FLOAT_VECTOR)
        schema.add_field("dense", dt.FLOAT_VECTOR, dim=dim)
        schema.add_function(pm.Function(name="text_bm25", function_type=pm.FunctionType.BM25,
                                        input_field_names=["terms"], output_field_names=["sparse"]))
        index = self.client.prepare_index_params()
        # milvus-lite searches flat whatever is asked; a server gets an HNSW graph like FAISS past 50k
        dense = {"index_type": "FLAT"} if self.lite else {"index_type": "HNSW", "params": {"M": 32, "efConstruction": 200}}
        index.add_index(field_name="dense", metric_type="IP", **dense)
        index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                        params={"bm25_k1": K1, "bm25_b": B})
        self.client.create_collection(self.name, schema=schema, index_params=index, consistency_level="Strong")
        files = pm.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        files.add_field("path", dt.VARCHAR, is_primary=True, max_length=MAX_URL)
        files.add_field("info", dt.VARCHAR, max_length=MAX_URL)
        files.add_field("v", dt.FLOAT_VECTOR, dim=2)  # Milvus needs one vector field per collection
        findex = self.client.prepare_index_params()
        findex.add_index(field_name="v", index_type="FLAT", metric_type="L2")
        self.client.create_collection(self.files_name, schema=files, index_params=findex, consistency_level="Strong")
        meta = {"format": FORMAT, "model_id": self.encoder.model_id, "dim": dim, "tokens": 0,
                "created_at": time.time()}
        self.put_file(META, meta)

    def close(self) -> None:
        """Close the connection (milvus-lite stops its engine when the last client closes)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- the files table ------------------------------------------------------------------

    def _file_rows(self, paths: Sequence[str]) -> dict[str, dict]:
        flt = f"path in [{', '.join(_quote(p) for p in paths)}]"
        rows = self.client.query(self.files_name, filter=flt, output_fields=["path", "info"])
        return {r["path"]: json.loads(r["info"]) for r in rows}

    def files(self) -> dict[str, dict]:
        """Indexed files: path -> {size, mtime_ns, sha256, passages}."""
        out: dict[str, dict] = {}
        # milvus-lite has no MVCC timestamp to pin the iterator to; pymilvus warns and falls back
        # to a client-side timestamp, which is right here (one writer), so the warning is noise.
        logging.getLogger("pymilvus").setLevel(logging.ERROR)
        it = self.client.query_iterator(self.files_name, batch_size=1000, filter='path != ""',
                                        output_fields=["path", "info"])
        try:
            while batch := it.next():
                out.update((r["path"], json.loads(r["info"])) for r in batch if r["path"] != META)
        finally:
            it.close()
        return out

    def put_file(self, path: str, info: dict) -> None:
        self.client.upsert(self.files_name, [{"path": path, "info": json.dumps(info), "v": [0.0, 0.0]}])

    def drop_file(self, path: str) -> None:
        self.client.delete(self.files_name, filter=f"path == {_quote(path)}")

    # --- the CorpusStore protocol -------------------------------------------------------

    def count(self) -> int:
        """Passages stored."""
        rows = self.client.query(self.name, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def __len__(self) -> int:
        return self.count()

    def add(self, passages: Iterable[Passage], progress: Callable[[int, int], None] | None = None,
            batch: int = 256) -> int:
        """Encode and insert passages in batches; returns how many were added."""
        new = list(passages)
        for start in range(0, len(new), batch):
            part = new[start:start + batch]
            vecs = np.asarray(self.encoder.encode([ranking_text(p) for p in part], "passage"), dtype=np.float32)
            if vecs.shape[1] != int(self._meta.get("dim") or vecs.shape[1]):
                raise ModelError(f"encoder gives {vecs.shape[1]}-d vectors, the corpus holds "
                                 f"{self._meta['dim']}-d", stage="rank", url=self.uri)
            rows = [self._row(p, v) for p, v in zip(part, vecs)]
            self.client.insert(self.name, rows)
            self._bump_tokens(sum(r["n_tokens"] for r in rows))
            if progress is not None:
                progress(min(start + batch, len(new)), len(new))
        return len(new)

    def _row(self, p: Passage, vec: np.ndarray) -> dict[str, Any]:
        terms = tokenize(ranking_text(p))
        joined = " ".join(map(_term, terms))
        if max(len(p.text.encode("utf-8")), len(joined.encode("utf-8"))) > MAX_TEXT:
            raise CorpusError(f"passage of {len(p.text)} characters is longer than Milvus keeps", url=p.url,
                              hint="lower chunk.max_tokens")
        if len(p.url.encode("utf-8")) > MAX_URL:
            raise CorpusError(f"passage URL longer than {MAX_URL} bytes", url=p.url[:200],
                              hint="use shorter file paths")
        return {"pk": p.id, "text": p.text, "terms": joined, "url": p.url, "title": _cut(p.title, MAX_TITLE),
                "source": source_of(p), "kind": _cut(p.source, 32), "start": int(p.start),
                "end": int(p.end), "n_tokens": len(terms), "dense": vec.tolist()}

    def delete_source(self, source: str) -> int:
        """Delete every passage of one document (``file:docs/x.md``); returns how many."""
        flt = f"source == {_quote(source)}"
        rows = self.client.query(self.name, filter=flt, output_fields=["n_tokens"], limit=QUERY_LIMIT)
        if not rows:
            return 0
        self.client.delete(self.name, filter=flt)
        self._bump_tokens(-sum(int(r["n_tokens"]) for r in rows))
        return len(rows)

    def _bump_tokens(self, delta: int) -> None:
        """Keep the corpus token total (for BM25's mean length) in the meta row."""
        with self._lock:
            self._df.clear()
            self._meta = {**self._meta, "tokens": max(0, int(self._meta.get("tokens", 0)) + delta)}
            self.put_file(META, self._meta)

    # --- ranking --------------------------------------------------------------------------

    def rank(self, question: str, rank: RankConfig | None = None) -> Ranking:
        """Hybrid ranking of the stored passages for ``question`` (see the module docstring)."""
        cfg = rank or self.rank_config
        question = check_question(question)
        t0 = time.perf_counter()
        qvec = np.asarray(self.encoder.encode([question], "query")[0], dtype=np.float32)
        t1 = time.perf_counter()
        terms = sorted(set(tokenize(question)))
        ids = self._candidates(terms, qvec, cfg.prefilter)
        rows = self._rows(ids)
        n = self.count()
        if not rows:
            return Ranking((), True, {"total": time.perf_counter() - t0}, {"passages": float(n)})
        vecs = np.asarray([r["dense"] for r in rows], dtype=np.float32)
        passages = [_passage(r) for r in rows]
        lexical = self._bm25(terms, passages, [int(r["n_tokens"]) for r in rows], n)
        t2 = time.perf_counter()
        refs, abstained, best = assemble(passages, vecs, vecs @ qvec, lexical, cfg)
        t3 = time.perf_counter()
        timings = {"encode": t1 - t0, "search": t2 - t1, "select": t3 - t2, "total": t3 - t0}
        return Ranking(refs, abstained, timings, {"passages": float(n), "candidates": float(len(rows))}, best)

    def _candidates(self, terms: Sequence[str], qvec: np.ndarray, k: int) -> list[str]:
        """Union of the BM25 top-k (Milvus full-text search) and the dense top-k, BM25 order first."""
        found: dict[str, None] = {}
        if terms:  # the analysed terms, once each, as the FAISS path scores them
            hits = self.client.search(self.name, data=[" ".join(map(_term, terms))], anns_field="sparse", limit=k,
                                      output_fields=["pk"], search_params={"metric_type": "BM25"})
            found.update(dict.fromkeys(h["entity"]["pk"] for h in hits[0]))
        hits = self.client.search(self.name, data=[qvec.tolist()], anns_field="dense", limit=k,
                                  output_fields=["pk"], search_params={"metric_type": "IP"})
        found.update(dict.fromkeys(h["entity"]["pk"] for h in hits[0]))
        return list(found)

    def _rows(self, ids: Sequence[str]) -> list[dict]:
        if not ids:
            return []
        fields = ["pk", "text", "url", "title", "kind", "start", "end", "n_tokens", "dense"]
        got = {r["pk"]: r for r in self.client.query(self.name, filter=f"pk in {json.dumps(list(ids))}",
                                                         output_fields=fields)}
        return [got[i] for i in ids if i in got]

    def _doc_freq(self, term: str) -> int:
        df = self._df.get(term)
        if df is None:
            rows = self.client.query(self.name, filter=f"TEXT_MATCH(terms, {_quote(_term(term))})",
                                     output_fields=["count(*)"])
            df = self._df[term] = int(rows[0]["count(*)"])
        return df

    def _bm25(self, terms: Sequence[str], passages: Sequence[Passage], lengths: Sequence[int],
              n: int) -> np.ndarray:
        """BM25 of the candidates over the whole collection, divided by the attainable maximum
        (every term matched with saturated frequency): the scale of :class:`BM25Index`."""
        out = np.zeros(len(passages), dtype=np.float32)
        if not terms or n == 0:
            return out
        avg = max(float(self._meta.get("tokens", 0)) / n, 1e-9)
        counts = [_counts(ranking_text(p)) for p in passages]
        norm = K1 * (1.0 - B + B * np.asarray(lengths, dtype=np.float32) / avg)
        ceiling = 0.0
        for term in terms:
            df = self._doc_freq(term)
            weight = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            ceiling += weight * (K1 + 1.0)
            tfs = np.asarray([c.get(term, 0) for c in counts], dtype=np.float32)
            out += weight * tfs * (K1 + 1.0) / (tfs + norm)
        return out / ceiling


def _term(term: str) -> str:
    """One BM25 term as one token of Milvus's standard tokenizer: ASCII words as they are,
    others (CJK bigrams, accented words) as hex, which that tokenizer never splits."""
    return term if term.isascii() else "x" + term.encode("utf-8").hex()


def _cut(text: str, max_bytes: int) -> str:
    """At most ``max_bytes`` of UTF-8 (Milvus VARCHAR limits count bytes), whole characters only."""
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")


def _counts(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for tok in tokenize(text):
        out[tok] = out.get(tok, 0) + 1
    return out


def _passage(row: dict) -> Passage:
    return Passage(id=row["pk"], text=row["text"], url=row["url"], title=row["title"],
                   start=int(row["start"]), end=int(row["end"]), source=row["kind"])
