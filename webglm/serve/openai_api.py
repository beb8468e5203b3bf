"""OpenAI-compatible endpoints: ``POST /v1/chat/completions`` and ``GET /v1/models``.

The last user message is the question; earlier messages, the system prompt and sampling
parameters (``temperature``, ``max_tokens``, ...) are accepted and not used, since the
answer is written from the retrieved references. The answer text carries ``[n]`` markers;
``references`` (index, title, url, quote, support) travel as an extra top-level field,
and, unless ``serve.sources_in_text`` is off, as a numbered source list after the text.

With ``stream: true`` the text is sent once its citations are checked, in chunks, then
``data: [DONE]``: an OpenAI client cannot take back text it has shown, and the raw token
stream can carry citations that the check removes.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from starlette.responses import JSONResponse

from ..errors import InputError
from ..types import Answer
from .gate import QueueFull
from .service import ClientGone, Service, log_failure, parse_json, public_message, status_for

MODEL_ID = "webglm"
QUOTE_CHARS = 600


def openai_error(exc: BaseException) -> JSONResponse:
    """An error in OpenAI's shape, which the openai client turns into its exception classes."""
    status = status_for(exc)
    kind = {400: "invalid_request_error", 503: "server_busy", 504: "timeout"}.get(status, "server_error")
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, QueueFull) else None
    return JSONResponse({"error": {"message": public_message(exc), "type": kind, "code": status}},
                        status_code=status, headers=headers)


def last_user_message(messages: Any) -> str:
    """The text of the last ``user`` message (string content or a list of text parts)."""
    if not isinstance(messages, list) or not messages:
        raise InputError("'messages' must be a non-empty list of {\"role\", \"content\"} objects")
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # [{"type": "text", "text": ...}, {"type": "image_url", ...}]
                content = " ".join(p.get("text", "") for p in content
                                   if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str))
            if isinstance(content, str):
                return content
            raise InputError("the last user message has no text content")
    raise InputError("'messages' has no message with role 'user'; the last user message is the question")


def references(answer: Answer) -> list[dict]:
    """The answer's references with the sentences of the answer each one supports."""
    best = answer.candidates[0].candidate if answer.candidates else None
    support: dict[int, list[str]] = {}
    for s in (best.support if best else ()):
        for index in s.supported_by:
            support.setdefault(index, []).append(s.sentence)
    return [{"index": r.index, "title": r.passage.title, "url": r.passage.url,
             "quote": r.passage.text[:QUOTE_CHARS], "support": support.get(r.index, [])}
            for r in answer.references]


def answer_text(answer: Answer, with_sources: bool) -> str:
    """The answer text, with a numbered source list for the references it cites."""
    if not with_sources or answer.abstained or not answer.citations:
        return answer.text
    cited = set(answer.citations)
    lines = [f"[{r.index}] {r.passage.title or r.passage.url} <{r.passage.url}>"
             for r in answer.references if r.index in cited]
    return answer.text + "\n\nSources:\n" + "\n".join(lines)


def _usage(answer: Answer) -> dict:
    tokens_in = sum(s.candidate.tokens_in for s in answer.candidates)
    tokens_out = sum(s.candidate.tokens_out for s in answer.candidates)
    return {"prompt_tokens": tokens_in, "completion_tokens": tokens_out, "total_tokens": tokens_in + tokens_out}


def _extra(answer: Answer) -> dict:
    return {"references": references(answer),
            "webglm": {"abstained": answer.abstained, "citations": list(answer.citations),
                       "queue": {k: v for k, v in answer.trace.counters.items() if k.startswith("queue_")},
                       "timings": answer.trace.timings}}


def completion(answer: Answer, cid: str, with_sources: bool) -> dict:
    """A ``chat.completion`` object for ``answer``."""
    message = {"role": "assistant", "content": answer_text(answer, with_sources)}
    return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": MODEL_ID,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
            "usage": _usage(answer), **_extra(answer)}


def _chunk(cid: str, delta: dict, finish: str | None = None, **extra) -> str:
    return json.dumps({"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
                       "model": MODEL_ID, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                       **extra}, ensure_ascii=False)


def stream_chunks(answer: Answer, cid: str, with_sources: bool) -> list[str]:
    """The chunk payloads after the role chunk: the text in pieces of a few words, then the
    closing chunk carrying finish_reason, usage and the references."""
    text = answer_text(answer, with_sources)
    pieces = re.findall(r"\S+\s*|\s+", text)
    out = [_chunk(cid, {"content": "".join(pieces[i:i + 4])}) for i in range(0, len(pieces), 4)]
    out.append(_chunk(cid, {}, "stop", usage=_usage(answer), **_extra(answer)))
    return out


async def read_chat(service: Service, request) -> tuple[str, float, bool]:
    """(question, deadline, stream) from a chat completion request."""
    body = parse_json(await request.body())
    if not isinstance(body, dict):
        raise InputError("the request body must be a JSON object with 'messages'")
    question = service.question(last_user_message(body.get("messages")))
    return question, service.deadline(body.get("timeout")), bool(body.get("stream", False))


def routes(service: Service) -> list:
    """The Starlette routes of the OpenAI-compatible API."""
    from sse_starlette import EventSourceResponse
    from starlette.routing import Route

    from .native import note_question
    from .service import until_disconnect

    with_sources = service.cfg.sources_in_text

    async def models(request):
        return JSONResponse({"object": "list", "data": [
            {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "webglm"}]})

    async def chat(request):
        try:
            question, timeout, stream = await read_chat(service, request)
            service.queue.admit()
        except Exception as exc:
            log_failure(exc)
            return openai_error(exc)
        note_question(request, service, question)
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        if not stream:
            try:
                answer = await until_disconnect(request, service.answer(question, timeout))
            except ClientGone:
                return JSONResponse({"error": {"message": "client disconnected"}}, status_code=499)
            except Exception as exc:
                log_failure(exc)
                return openai_error(exc)
            return JSONResponse(completion(answer, cid, with_sources))

        async def events():
            yield {"data": _chunk(cid, {"role": "assistant", "content": ""})}
            try:
                answer = await service.answer(question, timeout)
            except Exception as exc:  # the status line is sent: the error is the last chunk
                log_failure(exc)
                yield {"data": json.dumps({"error": {"message": public_message(exc), "code": status_for(exc)}})}
                return
            for payload in stream_chunks(answer, cid, with_sources):
                yield {"data": payload}
            yield {"data": "[DONE]"}

        return EventSourceResponse(events(), ping=10)

    return [Route("/v1/models", models), Route("/v1/chat/completions", chat, methods=["POST"])]
