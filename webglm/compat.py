"""Standard-library features newer than the oldest supported Python (3.10).

``tomllib`` and ``asyncio.timeout`` arrived in Python 3.11; on 3.10 their backports
(``tomli`` and ``async-timeout``, installed there by the package's dependency markers) stand in
with the same interface. Catch ``asyncio.TimeoutError`` around :func:`timeout`: on 3.10 it is not
yet the built-in ``TimeoutError`` (3.11 made the two one class).
"""

from __future__ import annotations

import asyncio

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

try:
    timeout = asyncio.timeout
except AttributeError:  # Python 3.10
    from async_timeout import timeout  # type: ignore[no-redef]

__all__ = ["timeout", "tomllib"]
