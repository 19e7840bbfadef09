"""What every jaxsr command-line entry point shares: `main` (absl flags, quiet logs,
one-line errors, exit codes) and the config-flag helpers.

A CLI module defines its absl flags at import and calls `cli.main(body)`; `body()` reads the
flags, checks its input inside `with cli.checking():` (an error there is bad input, exit 2,
before any compute) and then does its work (an error is exit 1). Exit codes of every jaxsr
CLI (train, evaluate, upscale, experiment, report, convert, complexity, weight_stats):

    0    done
    1    a failure while running (divergence, a busy workdir, a full disk, a stale file)
    2    bad input, found before any compute: a flag, a config key or value, a path, a spec
    130  interrupted (Ctrl-C / SIGTERM; the trainer saves a checkpoint first)
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from jaxsr.interrupt import Interrupted

# TFDS repeats these on every build/load of a custom-config builder; they are not actionable.
_NOISE = ("Using custom data configuration", "OpenCV is not installed")

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not any(n in msg for n in _NOISE)


def _drop_closed_loop_errors() -> None:
    """Silence the tracebacks an Orbax restore that failed half-way leaves behind (the
    fallback then reports the failure in one line): 'Event loop is closed' from TensorStore
    callbacks, and the errors of the other shard reads of the failed restore, raised when
    their abandoned coroutines are collected ('Exception ignored in: <coroutine ...>')."""
    import threading

    def closed_loop(exc: BaseException | None) -> bool:
        return isinstance(exc, RuntimeError) and str(exc) == "Event loop is closed"

    def abandoned_read(u) -> bool:  # type: ignore[no-untyped-def]
        """An unraisable error of a shard-read coroutine of a failed Orbax restore."""
        name = getattr(getattr(u, "object", None), "__name__", "")
        return name == "_read_array_index_and_device_put" and isinstance(u.exc_value, Exception)

    sys_hook, thread_hook, unraisable_hook = (
        sys.excepthook,
        threading.excepthook,
        sys.unraisablehook,
    )

    def excepthook(t, v, tb):  # type: ignore[no-untyped-def]
        if not closed_loop(v):
            sys_hook(t, v, tb)

    def threadhook(args):  # type: ignore[no-untyped-def]
        if not closed_loop(args.exc_value):
            thread_hook(args)

    def unraisable(u):  # type: ignore[no-untyped-def]
        if not (closed_loop(u.exc_value) or abandoned_read(u)):
            unraisable_hook(u)

    sys.excepthook, threading.excepthook, sys.unraisablehook = excepthook, threadhook, unraisable


def quiet_logs() -> None:
    """Show warnings and errors only (Orbax/JAX/TFDS log much at INFO) unless -v was given."""
    _drop_closed_loop_errors()
    from absl import flags
    from absl import logging as absl_logging

    if not flags.FLAGS["verbosity"].present:
        absl_logging.set_verbosity(absl_logging.WARNING)
    for name in ("jax._src.xla_bridge", "absl", "tensorflow_datasets"):
        logging.getLogger(name).setLevel(logging.WARNING)
    absl_logging.get_absl_handler().addFilter(_DropNoise())
    logging.getLogger("absl").addFilter(_DropNoise())
    if not flags.FLAGS["verbosity"].present:  # -v shows them
        absl_logging.get_absl_handler().addFilter(_DropCheckpointLibraryLogs())
        logging.getLogger("absl").addFilter(_DropCheckpointLibraryLogs())


class _DropCheckpointLibraryLogs(logging.Filter):
    """Orbax's own logs of a failed write or read (a full disk: ~200 lines, tracebacks of its
    threads), and the records other loggers make of its errors (asyncio's "Task exception was
    never retrieved" when an abandoned read is garbage-collected): the trainer turns the
    failure into one line (`jaxsr.files.StorageError`, `CheckpointError`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _from_orbax(record.pathname) or _from_orbax(str(record.msg)):
            return False
        tb = record.exc_info[2] if record.exc_info else None
        while tb is not None:
            if _from_orbax(tb.tb_frame.f_code.co_filename):
                return False
            tb = tb.tb_next
        return True


def _from_orbax(filename: str) -> bool:
    return "/orbax/" in filename.replace("\\", "/")


# errors the user can act on: shown as their message alone; anything else keeps its type
_USER_ERRORS = (
    "ValueError",
    "FileNotFoundError",
    "FileExistsError",
    "CheckpointMismatch",
    "Diverged",
    "CheckpointError",
    "Interrupted",
    "PermissionError",
    "ImportError",
    "NotADirectoryError",
    "IsADirectoryError",
    "Busy",
    "StorageError",
)


def fail(e: BaseException | str, code: int = 1) -> NoReturn:
    """Print `error: <one line>` to stderr and exit (no traceback)."""
    if isinstance(e, Interrupted):
        interrupted(str(e))
    msg = e if isinstance(e, str) else error_line(e)
    print(f"error: {msg}", file=sys.stderr, flush=True)
    _exit(code)


def error_line(e: BaseException) -> str:
    """An exception as the one line the CLIs print after `error: ` (its type named unless
    it is an error the user can act on)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    msg = lines[0] if lines else ""
    if isinstance(e, OSError) and e.filename:
        msg = f"{e.filename}: {e.strerror}"
    if type(e).__name__ not in _USER_ERRORS:
        msg = f"{type(e).__name__}: {msg}"
    return msg


def interrupted(msg: str) -> NoReturn:
    print(f"interrupted: {msg}", file=sys.stderr, flush=True)
    _exit(EXIT_INTERRUPTED)


def _exit(code: int) -> NoReturn:
    """Exit now. The trainer has already closed its checkpointer and logs on every error
    path; a normal interpreter shutdown would only let Orbax/TensorStore threads of a failed
    restore print tracebacks after the one-line message."""
    sys.stdout.flush()
    sys.stderr.flush()
    jax = sys.modules.get("jax")
    if jax is not None:  # leave JAX's distributed runtime in step with the other processes
        try:
            if jax.distributed.is_initialized():
                jax.distributed.shutdown()
        except Exception:  # a peer is already gone: nothing left to coordinate
            pass
    os._exit(code)


class BadInput(Exception):
    """An error in a CLI's input (flags, files, config), found before any compute: exit 2."""


@contextlib.contextmanager
def checking() -> Iterator[None]:
    """A block of input checks: an error raised inside is bad input (exit 2)."""
    try:
        yield
    except (KeyboardInterrupt, BadInput):
        raise
    except Exception as e:
        raise BadInput(e) from e


def main(body: Callable[[], None], *, config: bool = False, stopped: str = "stopped") -> None:
    """Run a CLI: absl parses the flags its module defined (a bad, unknown or missing flag,
    or with `config` a bad config file, key or value: one line, exit 2), positional
    arguments are refused, logs are quieted, then `body()` runs. An error raised in a
    `checking()` block exits 2, any other error 1, Ctrl-C / SIGTERM 130 (`stopped`: what the
    user should know then, e.g. that rerunning resumes)."""
    from absl import app

    def run(argv: list[str]) -> None:
        quiet_logs()
        if len(argv) > 1:
            fail(f"unexpected arguments: {argv[1:]}", code=EXIT_BAD_INPUT)
        try:
            body()
        except KeyboardInterrupt:
            interrupted(stopped)
        except BadInput as e:
            fail(e.args[0] if e.args and isinstance(e.args[0], BaseException) else e, 2)
        except Exception as e:
            fail(e)

    app.run(run, flags_parser=parse_config_flags if config else parse_flags)


def parse_flags(argv: list[str]) -> list[str]:
    """absl `flags_parser` of the CLIs without a config: a bad, unknown or missing flag is
    one line and exit 2 (absl's own parser prints usage and exits 1)."""
    from absl import flags

    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        fail(lines[0] if lines else type(e).__name__, code=EXIT_BAD_INPUT)


def parse_config_flags(argv: list[str]) -> list[str]:
    """absl `flags_parser` that turns config-file and override errors into one line."""
    from absl import flags

    for i, arg in enumerate(argv[1:], 1):
        if arg == "--config" and i + 1 < len(argv):
            arg = "--config=" + argv[i + 1]
        if arg.startswith("--config="):
            path = arg.split("=", 1)[1].split(":", 1)[0]
            if not Path(path).is_file():
                fail(f"--config={path}: no such file", code=2)
    try:
        return flags.FLAGS(argv)
    except KeyboardInterrupt:
        interrupted("interrupted while reading the config")
    except Exception as e:  # ml_collections raises KeyError/AttributeError/IOError/...
        fail(flag_error_line(e, argv), code=2)


def flag_error_line(e: BaseException, argv: Sequence[str]) -> str:
    """The one line for an error raised while parsing `argv`'s flags (absl's own errors, or
    ml_collections' while it loads `--config` and applies `--config.KEY=VALUE`)."""
    from absl import flags

    if isinstance(e, flags.Error):
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        return lines[0] if len(lines) < 2 else f"{lines[0].rstrip(':')}: {lines[-1]}"
    return config_flag_error(e, list(argv))


def config_from_flags(args: Sequence[str]) -> Any:
    """The config that the `--config=FILE[:variant]` and `--config.KEY=VALUE` flags among
    `args` give, parsed in this process exactly as the CLIs parse them (fresh absl flag
    values); a bad file, key or value is a ValueError with the CLI's one-line message."""
    from absl import flags
    from ml_collections import config_flags

    argv = ["jaxsr", *(a for a in args if a.startswith("--config"))]
    values = flags.FlagValues()
    # sys_argv: the overrides are found in it when the flag is defined
    config_flags.DEFINE_config_file(
        "config", None, "config file", flag_values=values, sys_argv=argv
    )
    path = next(
        (a.split("=", 1)[1].split(":", 1)[0] for a in argv if a.startswith("--config=")), ""
    )
    if not Path(path).is_file():
        raise ValueError(f"--config={path}: no such file")
    try:
        values(argv)
        return values.config
    except Exception as e:
        raise ValueError(flag_error_line(e, argv)) from None


_DID_YOU_MEAN = re.compile(r"Did you mean \"?([\w.]+)\"? instead of \"?([\w.]+)\"?")


def config_flag_error(e: BaseException, argv: list[str]) -> str:
    """One line for an error raised while ml_collections parses `--config...` flags."""
    text = " ".join(str(a) for a in getattr(e, "args", ())) or str(e)
    m = _DID_YOU_MEAN.search(text.replace("\\n", " ").replace('\\"', '"'))
    bad = next((a for a in argv[1:] if m and a.startswith("--config.") and m.group(2) in a), None)
    if m:
        flag = bad.split("=")[0] if bad else f"'{m.group(2)}'"
        return f"{flag}: unknown config key {m.group(2)!r}; did you mean {m.group(1)!r}?"
    if isinstance(e, (KeyError, AttributeError)):
        line = _unknown_key_line(text.strip("\"' "), argv)
        if line:
            return line
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[-1] if lines else type(e).__name__


def _unknown_key_line(key: str, argv: list[str]) -> str | None:
    """`--config.a.b: unknown config key 'b' in 'a'; did you mean ...? (known: ...)` for an
    override naming a key the config lacks (ml_collections suggests only close matches of
    some sections, and says just `'b'` otherwise)."""
    import difflib

    config_arg = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
    for arg in argv[1:]:
        if not arg.startswith("--config."):
            continue
        path = arg[len("--config.") :].split("=", 1)[0].split(".")
        if key not in path:
            continue
        where = path[: path.index(key)]
        known: list[str] = []
        try:
            section = _load_config(config_arg) if config_arg else None
            for part in where:
                section = section[part]
            known = sorted(section.keys())
        except Exception:  # noqa: BLE001 - the hint is optional; the key is named anyway
            pass
        name = ".".join(where) or "the config"
        line = f"--config.{'.'.join(path)}: unknown config key {key!r} in {name}"
        close = difflib.get_close_matches(key, known, 1)
        if close:
            line += f"; did you mean {close[0]!r}?"
        if known:
            line += f" (known: {', '.join(known)})"
        return line
    return None


def _load_config(arg: str) -> Any:
    """The config of `--config=file.py[:variant]` (for error hints)."""
    import importlib.util

    path, _, variant = arg.partition(":")
    spec = importlib.util.spec_from_file_location("jaxsr_hint_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(variant or None) if variant else module.get_config()
