"""Logging helpers: webglm logs under the ``webglm`` logger hierarchy and leaves the root
logger to the application that embeds it.

Libraries webglm calls (the MCP SDK, onnxruntime's quantiser) call ``logging.basicConfig`` or
log through the root logger, which would install a handler (or change the level) of the host
application's root logger. :func:`root_logger_kept` undoes that around such calls.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

LOGGER_NAME = "webglm"


@contextlib.contextmanager
def root_logger_kept(level: int | None = None) -> Iterator[None]:
    """Run the block, then give the root logger back its handlers and level. ``level``, when
    given, is the root level during the block (to hide a third-party message logged on root)."""
    root = logging.getLogger()
    handlers, old_level = list(root.handlers), root.level
    if level is not None:
        root.setLevel(level)
    try:
        yield
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(old_level)


def ensure_console_handler(level: int = logging.INFO) -> None:
    """For commands that run a server: show ``webglm.*`` messages on stderr when the process has
    configured no logging at all (the ``webglm`` logger gets the handler, never the root)."""
    logger = logging.getLogger(LOGGER_NAME)
    if logging.getLogger().handlers or any(not isinstance(h, logging.NullHandler) for h in logger.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)


__all__ = ["LOGGER_NAME", "root_logger_kept", "ensure_console_handler"]
