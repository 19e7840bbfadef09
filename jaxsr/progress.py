"""Progress bars on stderr, drawn by tqdm: in place on a terminal; in a log file (not a
terminal) one plain line per redraw instead of carriage-return overwrites."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class _Lines:
    """A file for tqdm that turns each in-place redraw into one line (for logs)."""

    def __init__(self, stream: Any) -> None:
        self.stream, self._last = stream, ""

    def write(self, s: str) -> None:
        line = s.replace("\r", "").rstrip()
        if line and line != self._last:
            self.stream.write(line + "\n")
            self._last = line

    def flush(self) -> None:
        self.stream.flush()


class Progress:
    """`update(n, postfix)` / `close()` over a tqdm bar. `interval`: minimum seconds between
    redraws (the last update always draws; the bar closes when it reaches `total`)."""

    def __init__(self, total: int, desc: str = "", stream: Any = None, interval: float = 0.1):
        from tqdm import tqdm

        stream = stream or sys.stderr
        tty = getattr(stream, "isatty", lambda: False)()
        self.postfix = ""
        self._bar = tqdm(
            total=total,
            desc=desc,
            file=stream if tty else _Lines(stream),
            mininterval=interval,
            maxinterval=max(interval, 10.0),
            dynamic_ncols=tty,
            ncols=None if tty else 100,
            ascii=not tty,
            leave=True,
        )

    @property
    def n(self) -> int:
        return int(self._bar.n)

    def update(self, n: int = 1, postfix: str = "") -> None:
        if postfix != self.postfix:
            self.postfix = postfix
            self._bar.set_postfix_str(postfix, refresh=False)
        self._bar.update(n)
        if self._bar.total is not None and self._bar.n >= self._bar.total:
            self.close()

    def close(self) -> None:
        if not self._bar.disable:
            self._bar.close()


def progress(items: Iterable[T], total: int, desc: str = "") -> Iterator[T]:
    bar = Progress(total, desc)
    try:
        for item in items:
            yield item
            bar.update()
    finally:
        bar.close()
