"""webglm.retriever: web search with failover, hardened fetching, extraction, chunking,
and local corpora.

Public API used by the pipeline::

    api_client, fetch_client = make_clients(cfg.fetch, cfg.search)
    engine = make_engine("auto", cfg.search, api_client)
    retriever = WebRetriever(cfg.search, cfg.fetch, cfg.chunk, engine=engine, fetch_client=fetch_client)
    retrieval = await retriever.retrieve("who wrote the iliad?")
    retriever.close()  # stops the extraction worker processes it started (fetch.extract_processes)

Importing this package does not import torch.
"""

from .chunk import chunk_text, count_tokens, dedup_passages
from .client import make_api_client, make_clients, make_fetch_client
from .core import WebRetriever, snippet_passage
from .corpus import CorpusDocs, read_corpus
from .engines import (
    BraveEngine,
    DuckDuckGoEngine,
    EngineError,
    SearXNGEngine,
    SerpAPIEngine,
)
from .extract import aextract, extract
from .fetch import Fetcher, FetchResult
from .guard import AddressPolicy, check_url, is_public_ip, parse_ip
from .search import (
    ENGINES,
    FailoverEngine,
    FusionEngine,
    configured_engines,
    make_engine,
    rrf_fuse,
)

__all__ = [
    "make_clients",
    "make_api_client",
    "make_fetch_client",
    "make_engine",
    "configured_engines",
    "ENGINES",
    "FailoverEngine",
    "FusionEngine",
    "rrf_fuse",
    "SearXNGEngine",
    "BraveEngine",
    "SerpAPIEngine",
    "DuckDuckGoEngine",
    "EngineError",
    "WebRetriever",
    "snippet_passage",
    "read_corpus",
    "CorpusDocs",
    "chunk_text",
    "count_tokens",
    "dedup_passages",
    "extract",
    "aextract",
    "Fetcher",
    "FetchResult",
    "AddressPolicy",
    "check_url",
    "is_public_ip",
    "parse_ip",
]
