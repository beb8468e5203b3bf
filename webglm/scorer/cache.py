"""Activation caching that makes fine-tuning top layers cheap on a CPU.

When only the top ``n`` transformer blocks train, everything below them gives the
same output for a text every epoch. :class:`LayerCache` runs the frozen part once
per text, stores the hidden states entering the first trainable block, and then
swaps the frozen blocks for pass-throughs and feeds the stored states back in
through a forward pre-hook. Embedding lookups still run (they are cheap) so the
model builds its own attention masks and position inputs as usual.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .model import RewardNet, layer_list


class _PassThrough(nn.Module):
    """Stands in for a frozen block: returns its input hidden states unchanged."""

    def __init__(self, as_tuple: bool):
        super().__init__()
        self.as_tuple = as_tuple

    def forward(self, hidden_states, *args, **kwargs):
        return (hidden_states,) if self.as_tuple else hidden_states


class LayerCache:
    """Caches the input of block ``first_trainable`` for each (text, max_length)."""

    def __init__(self, net: RewardNet, n_top: int):
        self.net = net
        self.layers = layer_list(net.encoder)
        self.first = len(self.layers) - n_top
        self.store: dict[tuple[str, int], torch.Tensor] = {}
        self._pending: list[torch.Tensor] | None = None
        self._captured: torch.Tensor | None = None
        self._originals = list(self.layers)
        self._as_tuple = False
        self._hook = self.layers[self.first].register_forward_pre_hook(self._pre_hook, with_kwargs=True)
        # older transformers blocks return tuples, newer ones tensors: copy what the real one does
        self._out_hook = self.layers[self.first].register_forward_hook(self._out_type)
        self._active = False

    def _pre_hook(self, module, args, kwargs):
        hidden = args[0] if args else kwargs["hidden_states"]
        if not self._active:
            self._captured = hidden.detach()
            return None
        assert self._pending is not None
        seq = hidden.shape[1]
        replaced = torch.zeros_like(hidden)
        for i, h in enumerate(self._pending):  # cached rows are unpadded
            replaced[i, : h.shape[0]] = h[:seq].to(hidden.dtype)
        if args:
            return (replaced, *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": replaced}

    def _out_type(self, module, args, output):
        self._as_tuple = isinstance(output, tuple)

    def fill(self, texts: Sequence[str], max_length: int, batch_size: int = 32) -> None:
        """Run the frozen lower part once for every text not cached yet."""
        todo = list(dict.fromkeys(t for t in texts if (t, max_length) not in self.store))
        self._restore()
        was_training = self.net.encoder.training
        self.net.encoder.eval()  # frozen blocks run once: cache them without dropout noise
        try:
            self._fill(todo, max_length, batch_size)
        finally:
            self.net.encoder.train(was_training)

    def _fill(self, todo: list[str], max_length: int, batch_size: int) -> None:
        tok = self.net.tokenizer
        todo = sorted(todo, key=len)  # similar lengths per batch: little padding to compute
        with torch.no_grad():
            for i in range(0, len(todo), batch_size):
                chunk = todo[i : i + batch_size]
                batch = tok(chunk, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
                self.net.encoder(**batch)
                lengths = batch["attention_mask"].sum(1).tolist()
                captured = self._captured
                if captured is None:
                    raise RuntimeError("the encoder's first cached block did not run")
                for text, n, h in zip(chunk, lengths, captured):
                    self.store[(text, max_length)] = h[: int(n)].to(torch.float16).clone()

    def _restore(self) -> None:
        for i, layer in enumerate(self._originals):
            self.layers[i] = layer
        self._active = False

    def embed(self, texts: Sequence[str], max_length: int) -> torch.Tensor:
        """Like ``net.embed`` but the frozen blocks are replaced by the cache."""
        self.fill(texts, max_length)
        for i in range(self.first):
            self.layers[i] = _PassThrough(self._as_tuple)
        self._pending = [self.store[(t, max_length)] for t in texts]
        self._active = True
        try:
            return self.net.embed(texts, max_length)
        finally:
            self._restore()
            self._pending = None

    def close(self) -> None:
        """Remove the hook and put the real blocks back."""
        self._restore()
        self._hook.remove()
        self._out_hook.remove()
        self.store.clear()
