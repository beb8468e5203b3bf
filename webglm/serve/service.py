"""Request handling shared by every endpoint: parsing, admission, deadlines, cancellation.

Every answer is produced from the pipeline's event stream, consumed in a task of its own:
when the deadline passes, or the client goes away, that task is cancelled, which stops
retrieval where it is and generation at its next token (and frees the generation slot).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from typing import Any, AsyncIterator

from ..compat import timeout as compat_timeout
from ..errors import FetchError, InputError, SearchError, WebGLMError
from ..types import Answer, FinalEvent
from .gate import GenerationQueue, QueueFull, slots_for

log = logging.getLogger("webglm.serve")
# Absolute file system paths (not the path part of a URL) are kept out of error messages.
_PATH = re.compile(r"(?<![\w:/.])(?:/[\w.@+-]+){2,}/?")
_DONE = object()


class DeadlineExceeded(WebGLMError):
    stage = "server"


class ClientGone(Exception):
    """The client disconnected before the answer was ready."""


def public_message(exc: BaseException) -> str:
    """What a client may see of an error: webglm's one-line message without local paths;
    nothing at all of unexpected exceptions (they are logged with their traceback)."""
    if isinstance(exc, WebGLMError):
        return _PATH.sub("<path>", str(exc))
    return "internal server error (the details are in the server log)"


def status_for(exc: BaseException) -> int:
    """HTTP status for an error raised while answering."""
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, QueueFull):
        return 503
    if isinstance(exc, DeadlineExceeded):
        return 504
    if isinstance(exc, (SearchError, FetchError)):
        return 502
    return 500


def parse_json(body: bytes) -> Any:
    """The request body as JSON, or :class:`InputError` (also for nesting too deep to parse)."""
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        raise InputError("the request body must be JSON like {\"question\": \"...\"}") from None
    except RecursionError:
        raise InputError("the request body is nested too deeply to be a request") from None


def check_text(value: Any, field: str) -> str:
    """A string field that can be encoded as UTF-8 (a lone surrogate cannot)."""
    if not isinstance(value, str):
        raise InputError(f"the field {field!r} must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"the field {field!r} has an invalid character at position {exc.start} "
                         "(a lone UTF-16 surrogate); send valid Unicode text") from None
    return value


class Service:
    """One loaded pipeline behind a generation queue, with the server's settings."""

    def __init__(self, glm, keys: tuple[str, ...] = ()):
        self.glm = glm
        self.cfg = glm.config.serve
        self.keys = keys
        slots = slots_for(glm.config.generate.backend, self.cfg.generation_slots, self.cfg.openai_slots)
        self.queue = GenerationQueue(slots, self.cfg.max_pending)

    def warm_up(self) -> None:
        """Run one extraction before the first request in web mode. The extractor's first
        call initialises its libraries (1.3 s here); four concurrent first calls took 3.2 s
        each and overran the 2 s extraction time box, so a fresh server abstained."""
        if self.glm.corpus_path is not None:
            return
        import time as _time

        from ..retriever import extract
        from ..types import Page

        html = ("<html><head><title>warm-up</title></head><body><article><p>" + "A warm-up sentence. " * 8
                + "</p></article></body></html>")
        extract(Page("http://warm-up.invalid/", "http://warm-up.invalid/", 200, "text/html", html,
                     _time.time()), timeout=60.0)

    def deadline(self, value: Any) -> float:
        """The request's deadline in seconds: its ``timeout`` if given, else the server default."""
        if value is None:
            return self.cfg.timeout
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= self.cfg.max_timeout:
            raise InputError(f"'timeout' must be a number of seconds in (0, {self.cfg.max_timeout:g}]")
        return float(value)

    def question(self, text: Any) -> str:
        """Validate a question (400 on bad input)."""
        from ..pipeline import validate_question

        return validate_question(check_text(text, "question"))

    async def events(self, question: str, timeout: float) -> AsyncIterator[Any]:
        """The pipeline's events for an admitted request, within ``timeout`` seconds.

        The caller must have called ``self.queue.admit()``; this releases the ticket."""
        queue: asyncio.Queue = asyncio.Queue()

        async def produce() -> None:
            try:
                async with compat_timeout(timeout):
                    async for event in self.glm.stream(question, gate=self.queue.slot):
                        queue.put_nowait(event)
            except asyncio.TimeoutError:
                queue.put_nowait(DeadlineExceeded(
                    f"no answer within the deadline of {timeout:g} s",
                    hint="send a larger 'timeout' in the request, or ask again later"))
            except Exception as exc:  # handed to the consumer, which reports it
                queue.put_nowait(exc)
            queue.put_nowait(_DONE)

        task = asyncio.create_task(produce())
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            # Release first: under anyio's cancel scopes (sse-starlette) every later await in
            # a cancelled task is cancelled again.
            self.queue.release()
            task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.shield(task)

    async def answer(self, question: str, timeout: float) -> Answer:
        """The final answer of an admitted request."""
        final = None
        async for event in self.events(question, timeout):
            if isinstance(event, FinalEvent):
                final = event.answer
        if final is None:
            raise WebGLMError("the pipeline ended without an answer", stage="server")
        return final

    def health(self) -> dict:
        """Liveness, loaded models and the generation queue."""
        corpus = {k: v for k, v in self.glm.corpus_info.items() if k != "location"}
        return {"status": "ok", "load_seconds": self.glm.load_seconds, "corpus": corpus,
                "backend": self.glm.config.generate.backend, "queue": self.queue.stats(),
                "auth": bool(self.keys)}


async def until_disconnect(request, coro):
    """Run ``coro``; cancel it and raise :class:`ClientGone` if the client disconnects first."""
    work = asyncio.ensure_future(coro)

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(watch())
    try:
        await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if work.done():
        return work.result()
    work.cancel()
    await asyncio.gather(work, return_exceptions=True)
    raise ClientGone()


def log_failure(exc: BaseException) -> None:
    """Log an unexpected error with its traceback (clients get :func:`public_message`)."""
    if not isinstance(exc, WebGLMError):
        log.error("unexpected error while answering", exc_info=exc)
