"""One writer per workdir (or experiment results folder): an exclusive lock taken before
anything else is written there.

`hold(directory)` takes an OS lock (`flock`) on `directory/.jaxsr.lock` and writes who holds
it (pid, host, start time, command) into the file. The kernel drops the lock when its process
dies, however it dies, so a lock is never left behind by a killed run: the next run takes it
over and says whose it was. A second process asking for a held lock fails at once with one
line naming the holder (`Busy`); if that holder's pid no longer runs on this host, the line
says so (a child process it forked still holds the lock). A multi-process run takes it in
process 0 only. Local and NFS file systems (flock over NFS v4 locks); not object storage.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

LOCK = ".jaxsr.lock"


class Busy(RuntimeError):
    """Another process holds the lock."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(text: str) -> str:
    try:
        info = json.loads(text)
        who = f"pid {info['pid']} on {info['host']} since {info['started']}"
    except (ValueError, KeyError, TypeError):
        return "another process (no holder recorded)"
    if info["host"] == socket.gethostname() and not _alive(int(info["pid"])):
        who += " (no longer running: a process it started still holds the lock)"
    return f"{who}: {info.get('command', '?')}"


@contextlib.contextmanager
def hold(directory: str | os.PathLike, what: str = "workdir") -> Iterator[str | None]:
    """Hold `directory`'s lock for the block (created if missing). Yields the previous
    holder's description if a finished or killed run left one, else None."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    path = d / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(
                f"{what}={d}: in use by {_holder(path.read_text())}; one run per {what} "
                "(wait for it to end, or use another)"
            ) from None
        with open(path) as f:
            previous = f.read().strip()
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join(sys.argv),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        yield _holder(previous) if previous else None
    finally:
        os.close(fd)  # releases the lock; the file stays (removing it would race a new holder)
