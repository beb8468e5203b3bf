"""Standard-library features newer than the oldest supported Python (3.10).

``tomllib`` and ``asyncio.timeout`` arrived in Python 3.11; on 3.10 their backports
(``tomli`` and ``async-timeout``, installed there by the package's dependency markers) stand in
with the same interface. Catch ``asyncio.TimeoutError`` around :func:`timeout`: on 3.10 it is not
yet the built-in ``TimeoutError`` (3.11 made the two one class).
"""

from __future__ import annotations

import asyncio

# Feature tests rather than version checks: the fallbacks then also serve an interpreter that
# lacks the module for any other reason, and a test can exercise them on 3.11. (The ignores are
# for mypy, which checks for 3.10: there the first import is missing, on 3.11 the second redefines.)
try:
    import tomllib  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef, unused-ignore]

try:
    timeout = asyncio.timeout  # type: ignore[attr-defined, unused-ignore]
except AttributeError:  # Python 3.10
    from async_timeout import timeout  # type: ignore[no-redef, assignment, unused-ignore]

__all__ = ["timeout", "tomllib"]
