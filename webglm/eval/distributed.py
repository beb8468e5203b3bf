"""Batch evaluation spread over Ray actors (``webglm eval --ray ADDRESS --actors N``).

Each actor loads one pipeline and answers the examples sent to it; the driver keeps the
one :class:`~webglm.eval.results.ResultsFile` writer, so durability, resume and the report
are exactly those of a local run: the rows come from the same :func:`answer_row` over the
same answers, and a driver killed at any point resumes from the rows already written.

The Ray side is an :data:`~webglm.eval.runner.AnswerFn`: the runner's workers await actor
calls instead of local ones, and a worker is never more than one example ahead, so rows
stream back as they finish and nothing is answered twice.

``ADDRESS`` is ``local`` (start a runtime on this machine, as many CPUs as it has),
``auto`` (the cluster this machine belongs to), or ``HOST:PORT`` / ``ray://HOST:10001``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError, EvalError
from .datasets import Example


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs the Ray runtime", hint="pip install 'webglm[ray]'") from None
    return ray


class PipelineActor:
    """One loaded pipeline in a Ray worker process (wrapped with ``ray.remote`` at start)."""

    def __init__(self, config: Any, corpus: Any, use_references: str,
                 pipeline_kwargs: Mapping[str, Any] | None = None):
        from ..pipeline import WebGLM
        from .runner import pipeline_answer_fn

        self.pipeline = WebGLM(config, corpus=corpus, **dict(pipeline_kwargs or {}))
        self.pipeline.load()
        self.fn = pipeline_answer_fn(self.pipeline, use_references=use_references)

    async def answer(self, example: Example):
        """The example's :class:`~webglm.types.Answer` (exceptions travel back to the driver)."""
        return await self.fn(example)

    def pid(self) -> int:
        return os.getpid()


class RayAnswerer:
    """An :data:`AnswerFn` that sends each example to the least busy of ``actors`` pipelines."""

    def __init__(self, address: str, *, actors: int, config: Any, corpus: Any = None,
                 use_references: str = "auto", pipeline_kwargs: Mapping[str, Any] | None = None,
                 cpus_per_actor: float = 1.0):
        if actors < 1:
            raise EvalError("--actors must be >= 1")
        self.ray = _ray()
        self._owns_runtime = not self.ray.is_initialized()
        if self._owns_runtime:
            self.ray.init(**_init_kwargs(address))
        remote = self.ray.remote(num_cpus=cpus_per_actor)(PipelineActor)
        self.actors = [remote.remote(config, corpus, use_references, pipeline_kwargs) for _ in range(actors)]
        self.busy = [0] * actors

    def wait_ready(self) -> list[int]:
        """Block until every actor has loaded its pipeline; their process ids."""
        return self.ray.get([a.pid.remote() for a in self.actors])

    async def __call__(self, example: Example):
        slot = min(range(len(self.actors)), key=self.busy.__getitem__)
        self.busy[slot] += 1
        ref = self.actors[slot].answer.remote(example)
        try:
            return await ref
        except asyncio.CancelledError:  # a --timeout: stop the remote call too
            self.ray.cancel(ref)
            raise
        except self.ray.exceptions.RayTaskError as exc:
            cause = exc.cause if isinstance(exc.cause, BaseException) else exc
            raise cause from None  # the row names the pipeline's error, as a local run does
        finally:
            self.busy[slot] -= 1

    def close(self) -> None:
        """Stop the actors (and the runtime, when this answerer started it)."""
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        if self._owns_runtime:
            self.ray.shutdown()


def _init_kwargs(address: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address != "local":
        kwargs["address"] = address
    # workers import webglm as the driver does (a source checkout on PYTHONPATH included)
    if os.environ.get("PYTHONPATH"):
        kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}}
    return kwargs
