"""Metrics to `workdir/metrics.jsonl` (one JSON object per record) and TensorBoard events.

`metrics.jsonl` is the record of truth; TensorBoard event files (written with tensorboardX,
no TensorFlow) are derived from it. On every (re)start `truncate_after(step)` drops records
newer than the step the run resumes from (the restored checkpoint, or the start of a run with
none) and rewrites the event files from what is left, so a run that was killed — even during
its first checkpoint save — and resumed logs every step once, in one event file. (Train
records average the steps since the previous record; after a resume from a checkpoint that
is not on a log step, the first record averages fewer steps than it would have.)
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any


class MetricWriter:
    def __init__(self, workdir: str | os.PathLike, tensorboard: bool = True, enabled: bool = True):
        self.path = Path(workdir) / "metrics.jsonl"
        self.tb_dir = Path(workdir) / "tensorboard"
        self.images_dir = Path(workdir) / "images"
        self.enabled = enabled
        self.tensorboard = tensorboard
        self._tb = None
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def _open_tb(self) -> None:
        if self.tensorboard and self._tb is None:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(logdir=str(self.tb_dir))

    def truncate_after(self, step: int) -> None:
        """Keep records (and images) with `step` <= `step`; rebuild the event files from them."""
        if not self.enabled:
            return
        keep: list[str] = []
        if self.path.exists():
            for ln in self.path.read_text().splitlines():
                try:
                    rec = json.loads(ln)
                except json.JSONDecodeError:  # a line cut by a kill
                    continue
                if rec.get("step", 0) <= step:
                    keep.append(ln)
            tmp = self.path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(ln + "\n" for ln in keep))
            tmp.replace(self.path)
        if self.tensorboard:
            if self._tb is not None:
                self._tb.close()
                self._tb = None
            shutil.rmtree(self.tb_dir, ignore_errors=True)
            self._open_tb()
            for ln in keep:
                rec = json.loads(ln)
                self._scalars(int(rec.pop("step")), rec.pop("kind", "train"), rec)
        for tmp in self.images_dir.glob("*/*.tmp"):  # cut by a kill
            tmp.unlink()
        for png in sorted(self.images_dir.glob("*/*.png")):
            if not png.stem.isdigit() or int(png.stem) > step:
                png.unlink()
            elif self.tensorboard:
                self._image(png.parent.name, int(png.stem), _read_png(png))
        self.flush()

    def _scalars(self, step: int, kind: str, values: dict[str, Any]) -> None:
        self._open_tb()
        if self._tb is None:
            return
        for k, v in values.items():
            if isinstance(v, float) and math.isfinite(v):
                self._tb.add_scalar(f"{kind}/{k}", v, step)
        if kind == "sparsity" and values:  # the spread of sparsity over the layers
            import numpy as np

            vals = np.asarray([v for v in values.values() if isinstance(v, float)], np.float64)
            self._tb.add_histogram("sparsity_of_layers", vals, step, bins=np.linspace(0, 1, 21))

    def _image(self, tag: str, step: int, image: Any) -> None:
        self._open_tb()
        if self._tb is not None:
            self._tb.add_image(f"samples/{tag}", image, step, dataformats="HWC")

    def write_image(self, step: int, tag: str, image: Any) -> None:
        """An HxWx3 uint8 image: saved as `images/<tag>/<step>.png` (kept on a resume up to
        the resumed step, like metrics.jsonl) and shown in TensorBoard under samples/<tag>."""
        if not self.enabled:
            return
        import numpy as np
        from PIL import Image

        path = self.images_dir / tag / f"{int(step):09d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        Image.fromarray(np.asarray(image, np.uint8)).save(tmp, format="PNG")
        tmp.replace(path)
        if self.tensorboard:
            self._image(tag, int(step), image)

    def write(self, step: int, kind: str, values: dict[str, Any]) -> None:
        if not self.enabled:
            return
        clean = {
            k: (float(v) if isinstance(v, int | float) or hasattr(v, "item") else v)
            for k, v in values.items()
        }
        # strict JSON: NaN/Inf (a diverged step) become null
        strict = {
            k: None if isinstance(v, float) and not math.isfinite(v) else v
            for k, v in clean.items()
        }
        with self.path.open("a") as f:
            f.write(json.dumps({"step": int(step), "kind": kind, **strict}) + "\n")
        self._scalars(int(step), kind, clean)

    def flush(self) -> None:
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def _read_png(path: Path) -> Any:
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def read_metrics(workdir: str | os.PathLike) -> list[dict[str, Any]]:
    path = Path(workdir) / "metrics.jsonl"
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
