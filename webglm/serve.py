"""An HTTP API over one loaded pipeline (``webglm serve``).

Endpoints:

- ``GET /health``: liveness and the loaded models.
- ``POST /v1/ask`` with ``{"question": "..."}``: the whole :class:`Answer` as JSON.
- ``POST /v1/ask/stream``: the same as server-sent events (``references``, ``token``,
  ``candidate``, ``final``), one JSON object per event.

Models load once at start-up; requests share them. Generation holds a lock so two
requests never drive one llama.cpp context at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from .errors import InputError, WebGLMError
from .types import to_dict


def _error(status: int, exc: Exception, stage: str = ""):
    from starlette.responses import JSONResponse

    return JSONResponse({"error": str(exc), "stage": stage or getattr(exc, "stage", "")}, status_code=status)


async def _question(request) -> str:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        raise InputError("request body must be JSON like {\"question\": \"...\"}") from None
    if not isinstance(body, dict) or not isinstance(body.get("question"), str):
        raise InputError("request body must be a JSON object with a string field \"question\"")
    return body["question"]


def create_app(glm) -> Any:
    """Build the Starlette application serving ``glm`` (a :class:`webglm.WebGLM`)."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    lock = asyncio.Lock()

    async def health(request):
        return JSONResponse({"status": "ok", "load_seconds": glm.load_seconds, "corpus": glm.corpus_info})

    async def ask(request):
        try:
            question = await _question(request)
            async with lock:
                answer = await glm.aanswer(question)
        except InputError as exc:
            return _error(400, exc)
        except WebGLMError as exc:
            return _error(502 if exc.stage in ("search", "fetch") else 500, exc)
        return JSONResponse(to_dict(answer))

    async def ask_stream(request):
        try:
            question = await _question(request)
        except InputError as exc:
            return _error(400, exc)

        async def events():
            async with lock:
                try:
                    async for event in glm.stream(question):
                        yield f"event: {event.kind}\ndata: {json.dumps(to_dict(event), ensure_ascii=False)}\n\n"
                except WebGLMError as exc:
                    yield f"event: error\ndata: {json.dumps({'error': str(exc), 'stage': exc.stage})}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await glm.aclose()

    routes = [Route("/health", health), Route("/v1/ask", ask, methods=["POST"]),
              Route("/v1/ask/stream", ask_stream, methods=["POST"])]
    return Starlette(routes=routes, lifespan=lifespan)


def serve(glm, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Load the pipeline and serve it until interrupted."""
    try:
        import uvicorn
    except ImportError:
        from .errors import ConfigError

        raise ConfigError("serving needs the 'serve' extra", hint="pip install 'webglm[serve]'") from None
    glm.load()
    uvicorn.run(create_app(glm), host=host, port=port, log_level="info")
