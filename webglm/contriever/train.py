"""Fine-tuning the retriever (WebGLM's LLM-augmented retriever, section 3.1 of the paper).

Two objectives:

* ``contrastive`` (what WebGLM's code trains): InfoNCE over in-batch negatives plus
  one hard negative per query, temperature 0.05.
* ``regression`` (what the paper describes): the query-passage similarity is
  regressed onto a graded label (ROUGE-1 precision for WebGLM-QA, 1/0 otherwise).

The checkpoint written to ``out_dir`` is a Hugging Face model + tokenizer with
sentence-transformers metadata, so it loads through
``make_encoder(RankConfig(encoder="contriever" | "sentence-transformers", model=out_dir))``.
A separately trained query encoder goes to ``out_dir/query_encoder``.
"""

from __future__ import annotations

import copy
import json
import random
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import InputError, ModelError
from .data import RetrievalExample, load_examples
from .evaluate import evaluate_retriever  # noqa: F401  (re-exported for the CLI)
from .lexical import BM25Index
from .tiny import write_st_config


def contrastive_loss(q: Any, p: Any, temperature: float = 0.05, same_query: Any = None) -> Any:
    """InfoNCE. q: (B, H) queries; p: (B + N, H) passages whose first B rows are the
    positives of the B queries, in order; every other row is a negative for every query.
    same_query: optional (B, B) bool, True where two rows share a query — those other
    positives are masked out rather than pushed away (a question has several answers)."""
    import torch

    logits = q @ p.T / temperature  # (B, B + N)
    if same_query is not None:
        off_diag = same_query & ~torch.eye(q.shape[0], dtype=torch.bool)  # (B, B)
        logits[:, : q.shape[0]] = logits[:, : q.shape[0]].masked_fill(off_diag, float("-inf"))
    target = torch.arange(q.shape[0], device=q.device)  # (B,)
    return torch.nn.functional.cross_entropy(logits, target)


def regression_loss(q: Any, p: Any, labels: Any) -> Any:
    """MSE between the query-passage similarity and a label. q, p: (N, H); labels: (N,) in [0, 1]."""
    sims = (q * p).sum(-1)  # (N,)
    return torch_mse(sims, labels)


def torch_mse(a: Any, b: Any) -> Any:
    import torch

    return torch.nn.functional.mse_loss(a, b)


def mine_hard_negatives(examples: Sequence[RetrievalExample], seed: int = 0) -> list[RetrievalExample]:
    """Give examples without negatives one: the best BM25 match among other queries' positives
    (lexically close, semantically wrong — the negatives that teach the most)."""
    pool = [(i, text) for i, ex in enumerate(examples) for text in ex.positives]
    index = BM25Index()
    index.add(text for _, text in pool)
    rng = random.Random(seed)
    out = []
    for i, ex in enumerate(examples):
        if ex.negatives:
            out.append(ex)
            continue
        ids, _ = index.top(ex.query, 20)
        others = [pool[j][1] for j in ids if pool[j][0] != i]
        neg = others[0] if others else pool[rng.randrange(len(pool))][1]
        out.append(RetrievalExample(ex.query, ex.positives, (neg,), ex.labels, ex.qid))
    return out


def _pairs(examples: Sequence[RetrievalExample], loss: str) -> list[tuple[str, str, str, float]]:
    """Flatten to (query, passage, hard negative, label) rows."""
    rows = []
    for ex in examples:
        labels = list(ex.labels) if len(ex.labels) == len(ex.positives) + len(ex.negatives) else []
        neg = ex.negatives[0] if ex.negatives else ""
        texts = list(ex.positives) + (list(ex.negatives) if loss == "regression" else [])
        for j, text in enumerate(texts):
            label = labels[j] if loss == "regression" and labels else float(j < len(ex.positives))
            rows.append((ex.query, text, neg, label))
    return rows


class _Towers:
    """Query and passage encoders (one shared model unless ``separate``), with pooling."""

    def __init__(self, base: Path, separate: bool, max_length: int, normalize: bool):
        from transformers import AutoModel, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
            self.passage = AutoModel.from_pretrained(str(base), local_files_only=True)
        except Exception as exc:
            raise ModelError(f"cannot load base model {base}: {exc}", stage="train", url=str(base),
                             hint="pass --base-model with a Hugging Face / sentence-transformers folder") from exc
        self.query = copy.deepcopy(self.passage) if separate else self.passage
        self.max_length, self.normalize = max_length, normalize

    def parameters(self) -> list[Any]:
        params = list(self.passage.parameters())
        return params + (list(self.query.parameters()) if self.query is not self.passage else [])

    def embed(self, texts: list[str], which: str) -> Any:
        import torch

        from .encoders import mean_pool

        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        model = self.query if which == "query" else self.passage
        vecs = mean_pool(model(**batch).last_hidden_state, batch["attention_mask"])
        return torch.nn.functional.normalize(vecs, dim=-1) if self.normalize else vecs

    def save(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.passage.save_pretrained(str(out))
        self.tokenizer.save_pretrained(str(out))
        write_st_config(out, self.passage.config.hidden_size, normalize=self.normalize,
                        max_seq_length=self.max_length)
        if self.query is not self.passage:
            self.query.save_pretrained(str(out / "query_encoder"))
            self.tokenizer.save_pretrained(str(out / "query_encoder"))


def _step(towers: _Towers, rows: list[tuple[str, str, str, float]], loss: str, temperature: float) -> Any:
    import torch

    queries = [r[0] for r in rows]
    q = towers.embed(queries, "query")
    if loss == "regression":
        p = towers.embed([r[1] for r in rows], "passage")
        return regression_loss(q, p, torch.tensor([r[3] for r in rows], dtype=torch.float32))
    negatives = [r[2] for r in rows if r[2]]
    p = towers.embed([r[1] for r in rows] + negatives, "passage")
    same = torch.tensor([[a == b for b in queries] for a in queries], dtype=torch.bool)  # (B, B)
    return contrastive_loss(q, p, temperature, same)


def train_retriever(data_path: str | Path | Sequence[RetrievalExample], out_dir: str | Path, *,
                    base_model: str = "", loss: str = "contrastive", epochs: int = 1, lr: float = 2e-5,
                    batch_size: int = 16, temperature: float = 0.05, max_length: int = 128,
                    max_steps: int = 0, separate_query_encoder: bool = False, similarity: str = "cosine",
                    holdout: float = 0.0, seed: int = 0, threads: int = 0, hard_negatives: bool = True,
                    progress: Callable[[int, int, float], None] | None = None) -> dict[str, float]:
    """Fine-tune query/passage encoders and save a checkpoint to ``out_dir``.

    ``data_path`` is a WebGLM-QA jsonl, a Stack Exchange ``Posts.xml`` (with ``holdout``
    questions kept out for evaluation) or a list of examples. ``base_model`` empty = the
    packaged all-MiniLM-L6-v2. ``hard_negatives`` adds one BM25-mined negative per query to the
    in-batch ones (contrastive loss). Returns ``loss_first``, ``loss_last``, ``steps``, ``examples``,
    ``seconds``; ``progress(step, total, loss)`` is called after each step."""
    import torch

    if loss not in ("contrastive", "regression"):
        raise InputError(f"unknown loss {loss!r}", stage="train", hint="use contrastive or regression")
    examples = list(data_path) if not isinstance(data_path, (str, Path)) else \
        list(load_examples(data_path, holdout=holdout, split="train").examples)
    examples = [e for e in examples if e.positives]
    if not examples:
        raise InputError("no training examples with a positive passage", stage="train",
                         hint="check the data file (WebGLM-QA jsonl or Stack Exchange Posts.xml)")
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    mine = loss == "contrastive" and hard_negatives
    rows = _pairs(mine_hard_negatives(examples, seed) if mine else examples, loss)
    base = Path(base_model).expanduser() if base_model else _packaged()
    towers = _Towers(base, separate_query_encoder, max_length, similarity == "cosine")
    per_epoch = (len(rows) + batch_size - 1) // batch_size
    total = min(max_steps, per_epoch * epochs) if max_steps else per_epoch * epochs
    t0 = time.perf_counter()
    losses = _fit(towers, rows, total, lr=lr, batch_size=batch_size, loss=loss, temperature=temperature,
                  seed=seed, progress=progress)
    step = len(losses)
    towers.passage.eval()
    towers.query.eval()
    out = Path(out_dir)
    towers.save(out)
    stats = {"loss_first": losses[0], "loss_last": losses[-1], "steps": float(step),
             "examples": float(len(rows)), "seconds": time.perf_counter() - t0}
    (out / "webglm_retriever.json").write_text(json.dumps({
        "base_model": str(base.name), "loss": loss, "lr": lr, "batch_size": batch_size,
        "temperature": temperature, "similarity": similarity, "max_length": max_length, **stats}, indent=1))
    return stats


def _fit(towers: _Towers, rows: list, total: int, *, lr: float, batch_size: int, loss: str,
         temperature: float, seed: int, progress: Callable[[int, int, float], None] | None) -> list[float]:
    """Run ``total`` AdamW steps over shuffled passes of ``rows``; returns the loss per step."""
    import torch

    optimizer = torch.optim.AdamW(towers.parameters(), lr=lr)
    rng, losses = random.Random(seed), []  # type: tuple[random.Random, list[float]]
    towers.passage.train()
    towers.query.train()
    while len(losses) < total:
        rng.shuffle(rows)
        for start in range(0, len(rows), batch_size):
            if len(losses) >= total:
                break
            value = _step(towers, rows[start:start + batch_size], loss, temperature)
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
            losses.append(float(value.detach()))
            if progress is not None:
                progress(len(losses), total, losses[-1])
    return losses


def _packaged() -> Path:
    from .encoders import packaged_minilm_path

    return packaged_minilm_path()
