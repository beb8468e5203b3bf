"""Index and search throughput of the two corpus stores, side by side: the FAISS + BM25 index
folder and Milvus (milvus-lite, in-process), with the packaged MiniLM encoder.

    python bench/store_throughput.py [--corpus docs] [--repeats 3] [--copies 4] [--out bench-stores.json]

Measured, interleaved store by store in one run:
- indexing with encoding (read + chunk + encode + insert) of the corpus;
- inserting only (vectors encoded once beforehand): what the store itself costs per passage,
  on ``--copies`` copies of the corpus' passages (distinct ids), so the store sees a bigger load;
- ranking the docs questions of ``ask_latency.py`` (query encoding + hybrid search + selection),
  ``--repeats`` rounds alternating the stores, with query embeddings cached beforehand so both
  are timed on the search side (the query encoding time is reported on its own);
- how many of the 5 references the two stores share per question.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _key(ref):
    return (ref.passage.url, ref.passage.text)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=str(ROOT / "docs"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    from ask_latency import QUESTIONS

    from webglm.config import WebGLMConfig
    from webglm.contriever import CorpusIndex, make_encoder
    from webglm.corpus import build_index
    from webglm.stores import open_store, sync_store

    cfg = WebGLMConfig()
    encoder = make_encoder(cfg.rank)
    encoder.load()
    tmp = Path(tempfile.mkdtemp(prefix="webglm-bench-stores-"))
    out: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                             "load_1min": os.getloadavg()[0]}, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}

    # 1. indexing with encoding; the encoder cache is cleared so both stores encode for real
    t0 = time.perf_counter()
    faiss = build_index([args.corpus], encoder, cfg).index
    t_faiss = time.perf_counter() - t0
    if getattr(encoder, "cache", None) is not None:
        encoder.cache.clear()
    store = open_store(f"milvus-lite:{tmp / 'docs.db'}", encoder, cfg, create=True)
    t0 = time.perf_counter()
    sync_store(store, [args.corpus], cfg)
    t_milvus = time.perf_counter() - t0
    n = faiss.count()
    out["index_with_encoding"] = {"passages": n, "faiss_s": t_faiss, "milvus_lite_s": t_milvus,
                                  "faiss_passages_per_s": n / t_faiss, "milvus_lite_passages_per_s": n / t_milvus}

    # 2. insert only, the vectors already encoded (the encoder cache answers)
    passages = list(faiss.passages)
    copies = [dataclasses.replace(p, id=f"{p.id}-{c}", url=f"{p.url.split('#')[0]}-{c}.md") for c in range(args.copies)
              for p in passages]
    encoder.encode([p.text for p in passages], "passage")  # warm the cache
    t0 = time.perf_counter()
    CorpusIndex.build(copies, encoder, cfg.rank)
    t_fi = time.perf_counter() - t0
    bulk = open_store(f"milvus-lite:{tmp / 'bulk.db'}", encoder, cfg, create=True)
    t0 = time.perf_counter()
    bulk.add(copies)
    t_mi = time.perf_counter() - t0
    bulk.close()
    out["insert_only"] = {"passages": len(copies), "faiss_passages_per_s": len(copies) / t_fi,
                          "milvus_lite_passages_per_s": len(copies) / t_mi}

    # 3. ranking, alternating the stores question by question; query vectors are cached first,
    #    so both stores are timed on search + selection (query encoding is the same for both)
    t0 = time.perf_counter()
    encoder.encode(list(QUESTIONS), "query")
    out["query_encoding_ms"] = 1000 * (time.perf_counter() - t0) / len(QUESTIONS)
    times = {"faiss": [], "milvus_lite": []}
    shared, abstained = [], []
    for r in range(args.repeats):
        for q in QUESTIONS:
            t0 = time.perf_counter()
            a = faiss.rank(q)
            times["faiss"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            b = store.rank(q)
            times["milvus_lite"].append(time.perf_counter() - t0)
            if r == 0:  # both abstaining is agreement: count it as all references shared
                both = a.abstained and b.abstained
                shared.append(5 if both else len({_key(x) for x in a.references} & {_key(x) for x in b.references}))
                abstained.append((a.abstained, b.abstained))
    store.close()
    out["rank"] = {name: {"queries": len(v), "p50_ms": 1000 * statistics.median(v),
                          "mean_ms": 1000 * statistics.fmean(v), "queries_per_s": len(v) / sum(v)}
                   for name, v in times.items()}
    out["shared_references"] = {"per_question": shared, "mean": statistics.fmean(shared),
                                "abstained_faiss_milvus": abstained}
    out["machine"]["load_1min_end"] = os.getloadavg()[0]
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
