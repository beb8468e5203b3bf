"""A small BM25 index with an absolute score scale, incrementally updatable and persistable.

Raw BM25 scores grow with query length and collection statistics, so one
threshold cannot separate relevant from irrelevant results. :meth:`BM25Index.scores`
therefore divides each score by the query's attainable maximum (every query term
matched with saturated term frequency), giving an "idf-weighted share of the
query matched" in [0, 1) that fuses with cosine similarities. Terms come from
:func:`webglm.text.tokenize`: words, and character bigrams for Chinese, Japanese and Korean.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Iterable, Sequence

import numpy as np

from ..text import stopwords, tokenize

# Tokenisation (per script: words, CJK character bigrams) and stopwords live in webglm.text.
STOPWORDS = stopwords("en")


class BM25Index:
    """Inverted index over documents numbered 0..n-1 in insertion order."""

    def __init__(self, k1: float = 1.2, b: float = 0.75):
        self.k1 = k1
        self.b = b
        self.vocab: dict[str, int] = {}
        self._docs: list[list[int]] = []  # per term: doc ids
        self._tfs: list[list[int]] = []  # per term: term frequencies
        self.doc_len: list[int] = []
        self._arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.doc_len)

    def add(self, texts: Iterable[str]) -> None:
        """Append documents; their ids continue from the current length."""
        for text in texts:
            doc = len(self.doc_len)
            counts = Counter(tokenize(text))
            for term, tf in counts.items():
                tid = self.vocab.get(term)
                if tid is None:
                    tid = self.vocab[term] = len(self._docs)
                    self._docs.append([])
                    self._tfs.append([])
                self._docs[tid].append(doc)
                self._tfs[tid].append(tf)
                self._arrays.pop(tid, None)
            self.doc_len.append(sum(counts.values()))

    def _postings(self, tid: int) -> tuple[np.ndarray, np.ndarray]:
        cached = self._arrays.get(tid)
        if cached is None:
            cached = (np.asarray(self._docs[tid], dtype=np.int64), np.asarray(self._tfs[tid], dtype=np.float32))
            self._arrays[tid] = cached
        return cached

    def idf(self, df: int) -> float:
        n = len(self.doc_len)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def scores(self, query: str) -> np.ndarray:
        """Normalised BM25 of ``query`` against every document, shape ``(len(self),)``, in [0, 1)."""
        return self.group_scores([(term,) for term in dict.fromkeys(tokenize(query))])

    def _norm(self) -> np.ndarray:
        lengths = np.asarray(self.doc_len, dtype=np.float32)
        avg = max(float(lengths.mean()), 1e-9)
        return self.k1 * (1.0 - self.b + self.b * lengths / avg)

    def group_scores(self, groups: Sequence[Sequence[str]]) -> np.ndarray:
        """Normalised BM25 of a query given as groups of synonymous terms (a translated
        question: one group per source word). A group counts as one query term: its members'
        frequencies add up and its document frequency is that of any member, as in Pirkola's
        structured queries, so a word with many translations weighs as much as one with one.
        Groups of one term give plain BM25 (:meth:`scores`)."""
        n = len(self.doc_len)
        out = np.zeros(n, dtype=np.float32)
        groups = [g for g in groups if g]
        if n == 0 or not groups:
            return out
        norm = self._norm()
        ceiling = 0.0
        for group in groups:
            ids = [tid for tid in dict.fromkeys(self.vocab.get(t) for t in group) if tid is not None]
            if len(ids) <= 1:  # one posting list (or none): no dense accumulation needed
                docs, tfs = self._postings(ids[0]) if ids else (np.zeros(0, np.int64), np.zeros(0, np.float32))
            else:
                tf = np.zeros(n, dtype=np.float32)
                for tid in ids:
                    d, f = self._postings(tid)
                    tf[d] += f
                docs = np.flatnonzero(tf)
                tfs = tf[docs]
            weight = self.idf(len(docs))
            ceiling += weight * (self.k1 + 1.0)
            if len(docs):
                out[docs] += weight * tfs * (self.k1 + 1.0) / (tfs + norm[docs])
        return out / ceiling

    def top(self, query: str, k: int, among: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Ids and normalised scores of the ``k`` best documents (stable: ties keep id order)."""
        scores = self.scores(query)
        ids = np.arange(len(scores)) if among is None else np.asarray(among, dtype=np.int64)
        sub = scores[ids]
        order = np.argsort(-sub, kind="stable")[:k]
        return ids[order], sub[order]

    # --- persistence ------------------------------------------------------------

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat arrays for ``np.savez``; the vocabulary is returned separately by :meth:`terms`."""
        lens = np.asarray([len(d) for d in self._docs], dtype=np.int64)
        docs = np.concatenate([np.asarray(d, dtype=np.int64) for d in self._docs]) if self._docs else np.zeros(0, np.int64)
        tfs = np.concatenate([np.asarray(t, dtype=np.int32) for t in self._tfs]) if self._tfs else np.zeros(0, np.int32)
        return {
            "posting_lengths": lens,
            "posting_docs": docs,
            "posting_tfs": tfs,
            "doc_len": np.asarray(self.doc_len, dtype=np.int64),
            "params": np.asarray([self.k1, self.b], dtype=np.float64),
        }

    def terms(self) -> list[str]:
        """The vocabulary in term-id order."""
        out = [""] * len(self.vocab)
        for term, tid in self.vocab.items():
            out[tid] = term
        return out

    @classmethod
    def from_arrays(cls, terms: Sequence[str], arrays: dict[str, np.ndarray]) -> "BM25Index":
        """Inverse of :meth:`to_arrays` + :meth:`terms`; raises ValueError on inconsistent input."""
        k1, b = (float(x) for x in arrays["params"])
        index = cls(k1=k1, b=b)
        lens = arrays["posting_lengths"]
        if len(lens) != len(terms) or int(lens.sum()) != len(arrays["posting_docs"]):
            raise ValueError("lexical index arrays do not match the vocabulary")
        index.vocab = {t: i for i, t in enumerate(terms)}
        bounds = np.concatenate([[0], np.cumsum(lens)])
        docs, tfs = arrays["posting_docs"], arrays["posting_tfs"]
        index._docs = [docs[bounds[i]:bounds[i + 1]].tolist() for i in range(len(terms))]
        index._tfs = [tfs[bounds[i]:bounds[i + 1]].tolist() for i in range(len(terms))]
        index.doc_len = arrays["doc_len"].tolist()
        if len(docs) and int(docs.max()) >= len(index.doc_len):
            raise ValueError("lexical index refers to documents it does not have")
        return index
