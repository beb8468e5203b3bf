"""Shared pieces of the command line: the typer apps, error handling, output and config helpers."""

from __future__ import annotations

import errno
import functools
import os
import stat
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from webglm.config import WebGLMConfig, load_config
from webglm.errors import ConfigError, CorpusError, EvalError, InputError, WebGLMError
from webglm.sanitize import strip_controls

app = typer.Typer(
    help="webglm: web-enhanced question answering with cited answers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
index_app = typer.Typer(help="Build and inspect local corpus indexes.", no_args_is_help=True)
app.add_typer(index_app, name="index")

# Exit statuses, as click, argparse and pytest use them: 2 when the command line itself is wrong
# (fix the invocation), 1 when a correct command failed at run time (fix the environment).
EXIT_RUNTIME_ERROR = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

# --help of the commands whose result is a JSON object anyway
ALWAYS_JSON = "The result is JSON either way (accepted so that scripts can pass --json to every command)."

# Errors in what the command names: a setting, an argument, a corpus path, a dataset file.
USAGE_ERRORS: tuple[type[WebGLMError], ...] = (ConfigError, InputError, CorpusError, EvalError)

_state = {"debug": False}

# typer's own exits and usage errors pass through the catch-all with their meaning (usage: 2).
# ClickException is click's, or the copy newer typer releases vendor: found through BadParameter.
_TYPER_EXITS: tuple[type[BaseException], ...] = (
    typer.Exit, typer.Abort, *[c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"])


@app.callback()
def _global_options(
    debug: bool = typer.Option(False, "--debug", envvar="WEBGLM_DEBUG",
                               help="Print the traceback of any error (also WEBGLM_DEBUG=1)."),
) -> None:
    """webglm: web-enhanced question answering with cited answers."""
    _state["debug"] = debug


def debug_enabled() -> bool:
    """Whether ``--debug`` (or ``WEBGLM_DEBUG=1``) asked for tracebacks."""
    return _state["debug"] or os.environ.get("WEBGLM_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def exit_status(exc: BaseException) -> int:
    """The exit status for an error that ended a command (see the module's table)."""
    if isinstance(exc, USAGE_ERRORS) and not getattr(exc, "runtime", False):
        return EXIT_USER_ERROR
    return EXIT_RUNTIME_ERROR


def _say(text: str, err: bool = False) -> None:
    """Print text that may quote documents: escape sequences in them must not reach the terminal."""
    typer.echo(strip_controls(text), err=err)


def _err(message: str) -> None:
    _say(message, err=True)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 2] + " …"


def _unexpected(exc: Exception) -> str:
    """``error: <what> (<hint>)`` for an exception webglm did not anticipate."""
    if isinstance(exc, OSError):
        what = exc.strerror or exc.__class__.__name__
        where = f": {exc.filename}" if exc.filename is not None else ""
        return f"error: {_one_line(what + where)} (check the path, its permissions and free space; " \
               "--debug prints the traceback)"
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return f"error: unexpected {_one_line(what)} (run again with --debug for the traceback, and report it if " \
           "it looks like a bug)"


def _fail(line: str, status: int) -> typer.Exit:
    """Print the error line (after the traceback under --debug) and return the exit to raise."""
    if debug_enabled():
        traceback.print_exc()
    _err(line)
    return typer.Exit(status)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn any error into one ``error:`` line on stderr and its exit status (1 or 2); the
    traceback only with ``--debug``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except _TYPER_EXITS:
            raise
        except WebGLMError as exc:
            raise _fail("error: " + str(exc).replace("\n", " "), exit_status(exc)) from None
        except KeyboardInterrupt:
            raise _fail("interrupted", EXIT_INTERRUPTED) from None
        except OSError as exc:
            if not _output_error(exc):
                raise _fail(_unexpected(exc), EXIT_RUNTIME_ERROR) from None
            _output_failed(exc)
            raise typer.Exit(EXIT_RUNTIME_ERROR) from None
        except Exception as exc:  # anything else: one line, not a traceback (that is --debug's)
            raise _fail(_unexpected(exc), EXIT_RUNTIME_ERROR) from None

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
