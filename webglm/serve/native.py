"""webglm's own endpoints: ``/health``, ``POST /v1/ask`` and ``POST /v1/ask/stream``."""

from __future__ import annotations

import json

from starlette.responses import JSONResponse

from ..errors import InputError
from ..types import to_dict
from .gate import QueueFull
from .service import ClientGone, Service, log_failure, parse_json, public_message, status_for


def error_response(exc: BaseException) -> JSONResponse:
    """A JSON error response for ``exc`` (``Retry-After`` on 503)."""
    status = status_for(exc)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, QueueFull) else None
    stage = getattr(exc, "stage", "") or "server"
    return JSONResponse({"error": public_message(exc), "stage": stage}, status_code=status, headers=headers)


async def read_request(service: Service, request) -> tuple[str, float]:
    """(question, deadline) from a ``{"question": ..., "timeout": ...}`` body."""
    body = parse_json(await request.body())
    if not isinstance(body, dict) or "question" not in body:
        raise InputError("the request body must be a JSON object with a string field \"question\"")
    question = service.question(body["question"])
    return question, service.deadline(body.get("timeout"))


def note_question(request, service: Service, question: str) -> None:
    """Record the question for the request log: hashed unless ``serve.log_questions``."""
    from .access import log, question_tag

    log.info("question %s", question if service.cfg.log_questions else question_tag(question))


def routes(service: Service) -> list:
    """The Starlette routes of the native API."""
    from starlette.routing import Route
    from sse_starlette import EventSourceResponse

    from .service import until_disconnect

    async def health(request):
        return JSONResponse(service.health())

    async def ask(request):
        try:
            question, timeout = await read_request(service, request)
            service.queue.admit()
            note_question(request, service, question)
            answer = await until_disconnect(request, service.answer(question, timeout))
        except ClientGone:
            return JSONResponse({"error": "client disconnected"}, status_code=499)
        except Exception as exc:
            log_failure(exc)
            return error_response(exc)
        return JSONResponse(to_dict(answer))

    async def ask_stream(request):
        try:
            question, timeout = await read_request(service, request)
            service.queue.admit()
        except Exception as exc:
            log_failure(exc)
            return error_response(exc)
        note_question(request, service, question)

        async def events():
            try:
                async for event in service.events(question, timeout):
                    yield {"event": event.kind, "data": json.dumps(to_dict(event), ensure_ascii=False)}
            except Exception as exc:  # headers are sent: the error becomes the last event
                log_failure(exc)
                body = {"error": public_message(exc), "stage": getattr(exc, "stage", "") or "server",
                        "status": status_for(exc)}
                yield {"event": "error", "data": json.dumps(body)}

        return EventSourceResponse(events(), ping=10)

    return [Route("/health", health), Route("/v1/ask", ask, methods=["POST"]),
            Route("/v1/ask/stream", ask_stream, methods=["POST"])]
