"""Reading dataset files as UTF-8 line by line, so one bad byte is one bad row, not a crash."""

from __future__ import annotations

import gzip
import zlib

from collections.abc import Iterator
from pathlib import Path

from ..errors import EvalError


def utf8_lines(path: Path) -> Iterator[tuple[int, str | UnicodeDecodeError]]:
    """``(line number, text)`` of a UTF-8 file (gzip-compressed or not), or the decoding error
    of a line that is not UTF-8."""
    with path.open("rb") as probe:
        gz = probe.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open(path, "rb") if gz else path.open("rb")) as fh:
            for lineno, raw in enumerate(fh, start=1):
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                try:
                    yield lineno, raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    yield lineno, exc
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:  # a truncated or damaged .gz
        raise EvalError(f"cannot read {path}: {exc}", url=str(path), hint="is the file complete?") from None


def not_utf8(exc: UnicodeDecodeError) -> str:
    """The reason a line is not UTF-8, with the offending byte and column."""
    return f"not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} at column {exc.start + 1}); re-save the file as UTF-8"


def read_utf8(path: Path) -> str:
    """A whole UTF-8 file (byte-order mark dropped); EvalError naming the byte when it is not UTF-8."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EvalError(f"{path} is {not_utf8(exc)}", url=str(path)) from None
