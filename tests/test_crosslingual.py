"""Questions and passages in different languages: the ranking switch and query translation."""

from __future__ import annotations

import numpy as np
import pytest

from webglm.config import RankConfig
from webglm.contriever.index import CorpusIndex
from webglm.errors import ConfigError
from webglm.types import Passage


class _EnglishOnly:
    """Dense scores that prefer the weather passage, from an encoder that knows only English."""

    model_id = "english-only"
    languages = ("en",)

    def encode(self, texts, kind="passage"):
        return np.asarray([[1.0, 0.0] if kind == "query" or "天气" in t else [0.0, 1.0] for t in texts],
                          dtype=np.float32)


def test_languages_off_ranks_every_question_densely_as_before():
    passages = [Passage("a", "北京今天的天气晴朗。", "u1", "天气"),
                Passage("b", "webglm 抓取网页时只连接公网地址，以保证安全。", "u2", "安全")]
    question = "webglm 如何保证网页抓取的安全？"
    routed = CorpusIndex.build(passages, _EnglishOnly(), RankConfig(min_score=0.0, top_k=1))
    assert routed.rank(question).references[0].passage.id == "b"
    off = CorpusIndex.build(passages, _EnglishOnly(), RankConfig(min_score=0.0, top_k=1, languages="off"))
    assert off.rank(question).references[0].passage.id == "a"  # the encoder's (wrong) order, as before
    with pytest.raises(ConfigError, match="languages"):
        RankConfig(languages="zh")
