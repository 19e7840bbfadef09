"""Metrics to `workdir/metrics.jsonl` (one JSON object per record) and TensorBoard events.

TensorBoard event files are written with tensorboardX (no TensorFlow needed). On resume,
`truncate_after(step)` drops records newer than the restored checkpoint so the log of a
resumed run equals that of an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any


class MetricWriter:
    def __init__(self, workdir: str | os.PathLike, tensorboard: bool = True, enabled: bool = True):
        self.path = Path(workdir) / "metrics.jsonl"
        self.enabled = enabled
        self._tb = None
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if tensorboard:
                from tensorboardX import SummaryWriter

                self._tb = SummaryWriter(logdir=str(Path(workdir) / "tensorboard"))

    def truncate_after(self, step: int) -> None:
        if not self.enabled or not self.path.exists():
            return
        keep = [
            ln
            for ln in self.path.read_text().splitlines()
            if ln.strip() and json.loads(ln).get("step", 0) <= step
        ]
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(ln + "\n" for ln in keep))
        tmp.replace(self.path)

    def write(self, step: int, kind: str, values: dict[str, Any]) -> None:
        if not self.enabled:
            return
        clean = {
            k: (float(v) if isinstance(v, int | float) or hasattr(v, "item") else v)
            for k, v in values.items()
        }
        with self.path.open("a") as f:
            f.write(json.dumps({"step": int(step), "kind": kind, **clean}) + "\n")
        if self._tb is not None:
            for k, v in clean.items():
                if isinstance(v, float) and math.isfinite(v):
                    self._tb.add_scalar(f"{kind}/{k}", v, int(step))

    def flush(self) -> None:
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def read_metrics(workdir: str | os.PathLike) -> list[dict[str, Any]]:
    path = Path(workdir) / "metrics.jsonl"
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
