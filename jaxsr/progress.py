"""A minimal progress bar on stderr (in place on a terminal, else one line per update)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


class Progress:
    def __init__(
        self, total: int, desc: str = "", width: int = 24, stream=None, interval: float = 0.0
    ) -> None:
        """`interval`: minimum seconds between redraws (the last update always draws)."""
        self.total, self.desc, self.width, self.interval = total, desc, width, interval
        self.stream = stream or sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self.n, self.t0, self.postfix, self._last = 0, time.perf_counter(), "", -1e9

    def update(self, n: int = 1, postfix: str = "") -> None:
        self.n += n
        self.postfix = postfix
        now, final = time.perf_counter(), self.n >= self.total
        if final or now - self._last >= self.interval:
            self._last = now
            self._draw(final=final)

    def close(self) -> None:
        """End an unfinished in-place bar with a newline (so a message after it starts clean)."""
        if self.tty and self.n < self.total:
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, final: bool = False) -> None:
        el = time.perf_counter() - self.t0
        rate = self.n / el if el > 0 else 0.0
        eta = (self.total - self.n) / rate if rate > 0 else 0.0
        fill = int(self.width * self.n / max(self.total, 1))
        bar = "#" * fill + "." * (self.width - fill)
        line = (
            f"{self.desc} [{bar}] {self.n}/{self.total} {rate:.2f}it/s "
            f"elapsed {el:.1f}s eta {eta:.1f}s {self.postfix}"
        )
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def progress(items: Iterable[T], total: int, desc: str = "") -> Iterator[T]:
    bar = Progress(total, desc)
    for item in items:
        yield item
        bar.update()
