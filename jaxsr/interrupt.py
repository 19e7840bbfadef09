"""Clean stops on Ctrl-C (SIGINT) and SIGTERM (preemption): finish the step, save, exit.

Inside `StopRequest()` the first SIGINT/SIGTERM only sets `requested`; the training loop
polls it between steps (a Python bool, no device sync), saves a checkpoint of the current
step, waits for it and raises `Interrupted`. A second Ctrl-C raises `KeyboardInterrupt` at
once. Outside the main thread (where Python allows no handlers) it does nothing.

In a multi-process run every process must stop at the same step (the step is a collective),
so the trainer polls only at log steps there and all processes agree through a tiny
all-gather (`jaxsr.distributed.any_process`): a signal to any one process stops them all,
after up to `train.log_every` steps (keep that short against a scheduler's grace period).
These handlers replace JAX's preemption notifier for SIGTERM while training runs.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class Interrupted(RuntimeError):
    """The run stopped on a signal after saving its state."""


class StopRequest:
    def __init__(self) -> None:
        self.requested: str | None = None
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            if old is not None:  # None: a handler set outside Python, which cannot be restored
                signal.signal(sig, old)
        self._old.clear()
