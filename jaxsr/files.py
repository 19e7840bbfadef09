"""Files: atomic writes, output/workdir checks (one-line errors before any compute), the
checkpoint steps present in a folder and storage errors (a full, read-only or over-quota
disk) found in an exception chain. Below every other jaxsr module; imports none."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

STORAGE_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EDQUOT)
# TensorStore (Orbax's array writer) raises ValueError("RESOURCE_EXHAUSTED: ...
# [os_error_code='28']") rather than an OSError
_TS_OS_ERROR = re.compile(r"os_error_code='?(\d+)")


class StorageError(RuntimeError):
    """The workdir's storage refused a write (full, read-only, over quota)."""


def storage_errno(e: BaseException | None) -> int | None:
    """The storage errno in `e` or the exceptions it was raised from / while handling."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in STORAGE_ERRNOS:
            return e.errno
        m = _TS_OS_ERROR.search(str(e))
        if m and int(m.group(1)) in STORAGE_ERRNOS:
            return int(m.group(1))
        e = e.__cause__ or e.__context__
    return None


def _writable_dir(path: Path, what: str) -> None:
    """`path` (a directory, created if missing) accepts new files."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what}={path}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{what}={path}: cannot create ({e.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"{what}={path}: not writable")


def check_workdir(workdir: str | os.PathLike, what: str = "workdir") -> Path:
    path = Path(workdir).absolute()
    _writable_dir(path, what)
    return path


def check_output_dir(path: str | os.PathLike, what: str, create: bool = True) -> Path:
    """A folder for new files. `create=False`: checked only (not a file; if missing, its
    nearest existing parent writable), so a run refused later leaves nothing behind."""
    p = Path(path).absolute()
    if create:
        _writable_dir(p, what)
        return p
    if p.exists():
        if not p.is_dir():
            raise ValueError(f"{what}={path}: exists and is not a directory")
        if not os.access(p, os.W_OK | os.X_OK):
            raise ValueError(f"{what}={path}: not writable")
        return p
    parent = p.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{what}={path}: cannot create (its parent {parent} is not writable)")
    return p


def check_output_file(path: str | os.PathLike, what: str) -> Path:
    """A file path that can be (over)written: not a directory, its parent writable."""
    p = Path(path).absolute()
    if p.is_dir():
        raise ValueError(f"{what}={path}: is a directory, expected a file path")
    if p.exists() and not os.access(p, os.W_OK):
        raise ValueError(f"{what}={path}: not writable")
    _writable_dir(p.parent, f"{what} (its folder)")
    return p


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a file via a temporary sibling and a rename (a kill never leaves it half-written)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def checkpoint_steps(directory: str | os.PathLike) -> list[int]:
    """Steps of the complete checkpoints in `directory` (numeric sub-folders), no Orbax."""
    d = Path(directory)
    return sorted(int(p.name) for p in d.iterdir() if p.name.isdigit()) if d.is_dir() else []
