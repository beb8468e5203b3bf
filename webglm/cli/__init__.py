"""The ``webglm`` command line: a thin layer over the public API (``python -m webglm``).

One module per area registers its commands on :data:`app`. Every error is one ``error:``
line on stderr (the traceback only with ``--debug``); the status is 2 for a wrong command line
and 1 for a runtime failure (``webglm.cli.common``).
"""

from __future__ import annotations

import os

# Models come from local paths and PyPI packages only: never reach for a hub, and keep
# library progress bars off the terminal (webglm prints its own progress on stderr).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# gRPC (Milvus) logs keepalive renegotiations as errors on stderr; webglm reports real failures
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

from webglm.cli.common import (  # noqa: E402
    EXIT_USER_ERROR,
    app,
    build_config,
    check_utf8,
    handle_errors,
    index_app,
    parse_sets,
)
from webglm.cli.format import format_answer, format_references, format_timings  # noqa: E402

# Importing the command modules registers their commands on `app` (in this order in --help).
from webglm.cli import ask, retrieve, index, evals, train, serve, plugins  # noqa: E402, F401

__all__ = ["EXIT_USER_ERROR", "app", "build_config", "check_utf8", "format_answer", "format_references",
           "format_timings", "handle_errors", "index_app", "main", "parse_sets"]


def main() -> None:  # pragma: no cover
    """Run the command line (the ``webglm`` console script and ``python -m webglm``)."""
    app()
