"""Encoders for the language tests: what the ranking does when the encoder does not know the
question's language."""

import numpy as np


class EnglishOnly:
    """An encoder that knows only English, whose dense scores prefer the weather passage
    (any text with 天气) for every query: the wrong one for the questions of these tests."""

    model_id = "english-only"
    languages = ("en",)

    def encode(self, texts, kind="passage"):
        return np.asarray([[1.0, 0.0] if kind == "query" or "天气" in t else [0.0, 1.0] for t in texts],
                          dtype=np.float32)
