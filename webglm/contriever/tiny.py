"""Tiny random-initialised BERT checkpoints for tests and smoke runs (no downloads).

The vocabulary is built from the words given, so a test can make every word of
its passages a real token and the model sees distinct inputs per text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def save_tiny_bert(path: str | Path, words: Iterable[str] = (), *, hidden: int = 32, layers: int = 2,
                   seed: int = 0, st_config: bool = False) -> Path:
    """Write a random-init ``BertModel`` (hidden 32, 2 layers by default) and a WordPiece
    tokenizer over ``words`` to ``path``; with ``st_config`` also the sentence-transformers
    files (mean pooling) so the folder loads through both encoder kinds."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast  # type: ignore[attr-defined]

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    vocab = list(SPECIAL) + sorted({w for text in words for w in re.findall(r"\w+", text.lower())})
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(out / "vocab.txt"), do_lower_case=True)
    tokenizer.save_pretrained(str(out))
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=max(1, hidden // 16), intermediate_size=hidden * 2,
                        max_position_embeddings=128)
    BertModel(config).save_pretrained(str(out))
    if st_config:
        write_st_config(out, hidden, normalize=True)
    return out


def write_st_config(folder: Path, dim: int, *, normalize: bool, max_seq_length: int = 256) -> None:
    """sentence-transformers metadata for a plain Hugging Face folder: Transformer -> mean Pooling
    (-> Normalize), so ``SentenceTransformer(folder)`` reproduces masked mean pooling."""
    import json

    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
        (folder / "2_Normalize").mkdir(exist_ok=True)
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "modules.json").write_text(json.dumps(modules, indent=1), encoding="utf-8")
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": dim, "pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False,
         "pooling_mode_max_tokens": False}), encoding="utf-8")
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_seq_length, "do_lower_case": False}), encoding="utf-8")
