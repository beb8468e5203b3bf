"""webglm.contriever: dense ranking of passages for a question.

Public API::

    encoder = make_encoder(RankConfig())               # cheap; loads on first use
    ranking = Ranker(encoder, RankConfig()).rank(question, passages)
    index = CorpusIndex.build(passages, encoder, RankConfig()); index.save(folder)
    index = CorpusIndex.load(folder, encoder); index.rank(question)

Training and evaluation live in :mod:`webglm.contriever.train`. Importing this
package does not import torch or faiss.
"""

from .cache import EmbeddingCache
from .encoders import (BaseEncoder, ContrieverEncoder, Encoder, HashTextEncoder, SentenceTransformerEncoder,
                       make_encoder, packaged_minilm_path, quantize_int8)
from .index import CorpusIndex, is_index_dir
from .lexical import BM25Index
from .ranking import Ranker, Ranking

__all__ = [
    "BM25Index", "BaseEncoder", "ContrieverEncoder", "CorpusIndex", "EmbeddingCache", "Encoder",
    "HashTextEncoder", "Ranker", "Ranking", "SentenceTransformerEncoder", "is_index_dir", "make_encoder",
    "packaged_minilm_path", "quantize_int8",
]
