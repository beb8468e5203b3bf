"""Shared pieces of the command line: the typer apps, error handling, output and config helpers."""

from __future__ import annotations

import errno
import functools
import os
import stat
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from webglm.config import WebGLMConfig, load_config
from webglm.errors import ConfigError, InputError, WebGLMError
from webglm.sanitize import strip_controls

app = typer.Typer(
    help="webglm: web-enhanced question answering with cited answers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
index_app = typer.Typer(help="Build and inspect local corpus indexes.", no_args_is_help=True)
app.add_typer(index_app, name="index")

EXIT_USER_ERROR = 2


def _say(text: str, err: bool = False) -> None:
    """Print text that may quote documents: escape sequences in them must not reach the terminal."""
    typer.echo(strip_controls(text), err=err)


def _err(message: str) -> None:
    _say(message, err=True)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn webglm errors into one stderr line and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except WebGLMError as exc:
            _err(f"error: {exc}")
            raise typer.Exit(EXIT_USER_ERROR) from None
        except KeyboardInterrupt:
            _err("interrupted")
            raise typer.Exit(130) from None
        except OSError as exc:
            if not _output_error(exc):  # not about the output: a real bug, keep its traceback
                raise
            _output_failed(exc)
            raise typer.Exit(EXIT_USER_ERROR) from None

    return wrapper


def _output_error(exc: OSError) -> bool:
    """Whether an OSError that reached the command came from writing stdout.

    Stream writes carry no file name. A broken pipe can only be the output here; a full disk
    is the output when stdout is a file or a device (``> /dev/full``)."""
    if exc.filename is not None:
        return False
    if exc.errno == errno.EPIPE:
        return True
    if exc.errno not in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO):
        return False
    try:
        mode = os.fstat(sys.stdout.fileno()).st_mode
    except (OSError, ValueError):
        return True
    return stat.S_ISREG(mode) or (stat.S_ISCHR(mode) and not sys.stdout.isatty())


def _output_failed(exc: OSError) -> None:
    """stdout is closed (``| head``) or full (``> /dev/full``): say so once, then go quiet."""
    try:  # later flushes (at exit) would fail again and print a traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    if exc.errno == errno.EPIPE:
        _err("error: the output was closed before webglm finished writing (broken pipe)")
    else:
        _err(f"error: cannot write the output: {exc.strerror or exc}")


def check_utf8(text: str, what: str) -> str:
    """Reject text that was not valid UTF-8 on the command line (Python keeps such bytes as
    lone surrogates, which no tokenizer or JSON encoder accepts)."""
    for pos, ch in enumerate(text):
        if "\udc80" <= ch <= "\udcff":
            raise InputError(f"the {what} is not valid UTF-8 (byte 0x{ord(ch) - 0xDC00:02x} at character {pos + 1})",
                             hint="check the terminal's encoding (LANG / LC_ALL should name UTF-8)")
        if "\ud800" <= ch <= "\udfff":
            raise InputError(f"the {what} holds a lone surrogate at character {pos + 1}")
    return text


def _progress(quiet: bool) -> Callable[[str], None]:
    if quiet:
        return lambda msg: None
    return lambda msg: _err(f"webglm: {msg}")


def parse_sets(items: list[str] | None) -> dict[str, str]:
    """``--set rank.top_k=3`` pairs into a dotted-key dict."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}", hint="e.g. --set rank.top_k=3")
        out[key.strip()] = value.strip()
    return out


def build_config(config_file: Optional[Path], sets: list[str] | None, **flags: Any) -> WebGLMConfig:
    """Defaults < TOML file < environment < --set < dedicated flags."""
    overrides: dict[str, Any] = parse_sets(sets)
    overrides.update({k: v for k, v in flags.items() if v is not None})
    return load_config(config_file, overrides=overrides)
