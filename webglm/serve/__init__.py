"""``webglm serve``: a concurrent HTTP service over one loaded pipeline.

Endpoints (see docs/serve.md):

- ``GET /``: a web page that asks and streams a cited answer.
- ``GET /health``: liveness, loaded models, the generation queue.
- ``POST /v1/ask`` / ``POST /v1/ask/stream``: webglm's own API (JSON / server-sent events).
- ``POST /v1/chat/completions``, ``GET /v1/models``: OpenAI-compatible.
- ``/mcp``: the MCP tools ``ask`` and ``search`` over streamable HTTP.

Retrieval runs concurrently across requests; generation takes turns through a bounded
queue per backend (:mod:`webglm.serve.gate`).
"""

from __future__ import annotations

from .app import create_app, serve

__all__ = ["create_app", "serve"]
