"""Assembling the application and running it under uvicorn with the server limits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from ..errors import ConfigError
from ..logs import ensure_console_handler
from .access import Access, exposure_warning, load_keys
from .limits import BodyLimit, guarded_protocol
from .service import Service

log = logging.getLogger("webglm.serve")


def create_app(glm, *, keys: tuple[str, ...] | None = None, host: str = "127.0.0.1") -> Any:
    """The ASGI application serving ``glm`` (a :class:`webglm.WebGLM`) on ``host``; ``keys``
    default to ``$WEBGLM_API_KEYS``."""
    from starlette.applications import Starlette

    from . import native, openai_api, web

    service = Service(glm, load_keys() if keys is None else keys)
    routes = native.routes(service) + openai_api.routes(service) + web.routes()
    mcp_app = None
    if service.cfg.mcp:
        from . import mcp_server

        mcp_app, mount = mcp_server.http_mount(service, host)
        routes.append(mount)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await asyncio.to_thread(service.warm_up)
        async with contextlib.AsyncExitStack() as stack:
            if mcp_app is not None:
                await stack.enter_async_context(mcp_app.session_manager.run())
            yield
        await glm.aclose()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.service = service
    outer: Any = app
    if service.cfg.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        outer = CORSMiddleware(outer, allow_origins=list(service.cfg.cors_origins),
                               allow_methods=["GET", "POST", "OPTIONS"],
                               allow_headers=["authorization", "content-type", "mcp-session-id",
                                              "mcp-protocol-version"])
    outer = BodyLimit(outer, service.cfg.max_body_bytes, service.cfg.body_timeout)
    # CORS preflights carry no credentials, so access checks sit inside CORS handling.
    return Access(outer, service.keys, service.cfg.rate_limit)


def uvicorn_config(app: Any, cfg, host: str, port: int):
    """uvicorn settings carrying the server limits."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, http=guarded_protocol(cfg.header_timeout),
                          # uvicorn counts the arriving connection too: +1 lets max_connections in
                          limit_concurrency=(cfg.max_connections + 1) if cfg.max_connections else None,
                          timeout_keep_alive=5,
                          access_log=False, log_level="info", server_header=False)


def serve(glm, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Load the pipeline and serve it until interrupted."""
    try:
        import uvicorn
    except ImportError:
        raise ConfigError("serving needs the 'serve' extra", hint="pip install 'webglm[serve]'") from None
    ensure_console_handler()  # server messages on stderr, without touching the root logger
    app = create_app(glm, host=host)
    warning = exposure_warning(host, app.keys)
    if warning:
        log.warning(warning)
    glm.load()
    uvicorn.Server(uvicorn_config(app, glm.config.serve, host, port)).run()
