"""Shared output of the bench scripts: the JSON report on stdout, and in a file if asked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def emit(report: Any, path: Path | None = None, **dumps: Any) -> None:
    """Print ``report`` as JSON (``json.dumps`` options in ``dumps``) and write it to ``path`` too."""
    text = json.dumps(report, **dumps)
    print(text)
    if path:
        path.write_text(text + "\n", encoding="utf-8")
