"""MCP tools ``ask`` and ``search`` on the official ``mcp`` SDK.

``webglm mcp`` serves them over stdio (for agents that launch tools as subprocesses);
``webglm serve`` mounts them over streamable HTTP at ``/mcp``, behind the same API keys,
limits and generation queue as the other endpoints.
"""

from __future__ import annotations

from typing import Any

from ..logs import root_logger_kept
from .openai_api import answer_text, references
from .service import Service, log_failure, public_message

INSTRUCTIONS = ("webglm answers questions from web pages or a local corpus with [n] citations "
                "checked against the sources. 'ask' returns a cited answer and its references; "
                "'search' returns the ranked passages only.")


def build(service: Service):
    """An ``MCPServer`` whose tools answer through ``service``."""
    from mcp.server import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    async def guarded(work):
        # The SDK hides unexpected exceptions from clients; webglm's errors are meant for them.
        try:
            return await work
        except Exception as exc:
            log_failure(exc)
            raise ToolError(public_message(exc)) from None

    # the SDK calls logging.basicConfig when it builds a server: the root logger belongs to
    # the application that embeds webglm, so whatever the SDK installs there is taken back
    with root_logger_kept():
        server = MCPServer("webglm", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool()
    async def ask(question: str, timeout: float | None = None) -> dict[str, Any]:
        """Answer a question with [n] citations; returns the answer, whether it abstained,
        and the numbered references (title, url, quote, the sentences each supports)."""
        return await guarded(_ask(question, timeout))

    async def _ask(question: str, timeout: float | None) -> dict[str, Any]:
        q = service.question(question)
        deadline = service.deadline(timeout)
        service.queue.admit()
        answer = await service.answer(q, deadline)
        return {"answer": answer_text(answer, with_sources=False), "abstained": answer.abstained,
                "citations": list(answer.citations), "references": references(answer)}

    @server.tool()
    async def search(question: str, k: int = 5) -> dict[str, Any]:
        """Retrieve and rank passages for a question, without writing an answer."""
        return await guarded(_search(question, k))

    async def _search(question: str, k: int) -> dict[str, Any]:
        q = service.question(question)
        refs, trace = await service.glm.areferences(q)
        return {"passages": [{"index": r.index, "title": r.passage.title, "url": r.passage.url,
                              "text": r.passage.text, "score": round(float(r.score), 4)}
                             for r in refs[:max(1, int(k))]],
                "failures": len(trace.failures)}

    return server


def http_mount(service: Service, host: str = "127.0.0.1"):
    """(server, route): the streamable HTTP endpoint ``/mcp`` for the main application.
    The caller runs ``server.session_manager.run()`` in its lifespan."""
    server = build(service)
    app = server.streamable_http_app(streamable_http_path="/mcp", host=host)
    route = next(r for r in app.routes if getattr(r, "path", "") == "/mcp")
    return server, route


def run_stdio(glm) -> None:
    """Serve the tools over stdin/stdout until the client closes them."""
    server = build(Service(glm))
    glm.load()
    server.run("stdio")
