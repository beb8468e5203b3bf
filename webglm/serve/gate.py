"""A bounded generation queue: retrieval runs concurrently, generation takes turns.

One llama.cpp context can only decode one sequence at a time, while an OpenAI-compatible
server batches many; so each backend gets a number of generation *slots*. A request is
*admitted* when it arrives (a ticket, so a full server answers 503 before doing any work)
and takes a slot only for generation. Waiting requests are served in arrival order.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import AsyncIterator

DEFAULT_SLOTS = {"llamacpp": 1, "transformers": 1, "echo": 4}


class QueueFull(Exception):
    """The server holds as many requests as it admits; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int, pending: int):
        self.retry_after = retry_after
        self.pending = pending
        super().__init__(f"the server is busy ({pending} requests in progress); retry in {retry_after} s")


def slots_for(backend: str, configured: int, openai_slots: int) -> int:
    """Generation slots for a backend: the configured number, else one per local model
    context and ``openai_slots`` for an OpenAI-compatible server."""
    if configured > 0:
        return configured
    if backend == "openai":
        return max(1, openai_slots)
    return DEFAULT_SLOTS.get(backend, 1)


class GenerationQueue:
    """Admission tickets (at most ``max_pending`` requests at once) and ``slots`` generation slots."""

    def __init__(self, slots: int, max_pending: int):
        self.slots = max(1, slots)
        self.max_pending = max(self.slots, max_pending)
        self._sem = asyncio.Semaphore(self.slots)
        self.pending = 0  # admitted requests: retrieving, waiting or generating
        self.waiting = 0
        self.active = 0
        self.served = 0
        self.rejected = 0
        self.cancelled = 0
        self._wait_total = 0.0
        self.max_wait = 0.0
        self._gen_avg = 2.0  # seconds; an exponential average of slot hold times

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the queue ahead times the mean generation time."""
        ahead = self.waiting + self.active
        return int(min(60, max(1, math.ceil(self._gen_avg * ahead / self.slots))))

    def admit(self) -> None:
        """Admit one request for its whole life (pair with :meth:`release`), or raise
        :class:`QueueFull`."""
        if self.pending >= self.max_pending:
            self.rejected += 1
            raise QueueFull(self.retry_after(), self.pending)
        self.pending += 1

    def release(self) -> None:
        """The admitted request is over (answered, failed or abandoned)."""
        self.pending -= 1

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[dict[str, float]]:
        """Hold a generation slot; yields the queue counters recorded in the answer's trace."""
        depth = self.waiting + max(0, self.active - self.slots + 1)
        t0 = time.perf_counter()
        self.waiting += 1
        try:
            await self._sem.acquire()
        finally:
            self.waiting -= 1
        waited = time.perf_counter() - t0
        self._wait_total += waited
        self.max_wait = max(self.max_wait, waited)
        self.active += 1
        held = time.perf_counter()
        try:
            yield {"queue_wait_s": round(waited, 4), "queue_depth": float(depth)}
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled += 1
            raise
        finally:
            self.active -= 1
            self.served += 1
            self._gen_avg = 0.8 * self._gen_avg + 0.2 * (time.perf_counter() - held)
            self._sem.release()

    def stats(self) -> dict[str, float]:
        """Queue state for ``/health``."""
        return {"slots": self.slots, "max_pending": self.max_pending, "pending": self.pending,
                "waiting": self.waiting, "generating": self.active, "served": self.served,
                "rejected": self.rejected, "cancelled": self.cancelled,
                "mean_wait_s": round(self._wait_total / self.served, 4) if self.served else 0.0,
                "max_wait_s": round(self.max_wait, 4)}
