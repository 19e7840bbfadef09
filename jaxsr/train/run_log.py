"""A stage's logs: `metrics.jsonl` + TensorBoard events (`jaxsr.metric_writer`), the
method's one-off events (logged once, also across resumes), the progress bar and messages.
Process 0 writes; the others keep the same state but write nothing. The step's metrics stay
on device until a log step (`train.log_every`), the loop's one host sync."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import traverse_util

from jaxsr.data.imresize import upscale
from jaxsr.methods.base import Method
from jaxsr.metric_writer import MetricWriter, read_metrics
from jaxsr.progress import Progress


def say(lead: bool, msg: str) -> None:
    """A message on stderr, from process 0 only."""
    if lead:
        print(msg, file=sys.stderr, flush=True)


def sample_crop(sample: dict, scale: int, size: int = 96) -> np.ndarray:
    """Bicubic | SR | HR side by side: the centre `size` x `size` HR pixels (a multiple of
    `scale`; the whole image if smaller), for TensorBoard."""
    lr, hr = sample["lr"], sample["hr"]
    ch, cw = (min(size, d) // scale for d in hr.shape[:2])
    y0, x0 = (lr.shape[0] - ch) // 2, (lr.shape[1] - cw) // 2
    bic = upscale(lr, scale)
    ys, xs = slice(y0 * scale, (y0 + ch) * scale), slice(x0 * scale, (x0 + cw) * scale)
    gap = np.full((ch * scale, 2, 3), 255, np.uint8)
    parts = [np.asarray(x[ys, xs], np.uint8) for x in (bic, sample["sr"], hr)]
    return np.concatenate([parts[0], gap, parts[1], gap, parts[2]], axis=1)


def layer_sparsity(params: Any) -> dict[str, float]:
    """Fraction of exact zeros of every conv kernel (4-d leaf), by param path."""
    flat = traverse_util.flatten_dict(jax.device_get(params), sep="/")
    return {k: float(np.mean(np.asarray(v) == 0)) for k, v in flat.items() if np.ndim(v) == 4}


def logged_events(workdir: Path) -> dict[str, int]:
    """Events already in metrics.jsonl (kept by `truncate_after`): not logged again."""
    if not (workdir / "metrics.jsonl").exists():
        return {}
    out = {}
    for rec in read_metrics(workdir):
        if rec.get("kind") == "event":
            out.update({k: v for k, v in rec.items() if k not in ("step", "kind")})
    return out


class RunLog:
    """Records of one stage in `workdir` (see the module docstring)."""

    def __init__(self, cfg: Any, workdir: Path, method: Method, lead: bool, quiet: bool):
        self.workdir, self.method, self.lead, self.quiet = workdir, method, lead, quiet
        self.batch_size = int(cfg.data.batch_size)
        self.writer = MetricWriter(workdir, bool(cfg.get("tensorboard", True)), enabled=lead)
        self.announced: dict[str, int] = {}
        self.bar: Progress | None = None
        self.pending: list[dict] = []
        self.t_log, self.n_log = time.perf_counter(), 0

    def say(self, msg: str) -> None:
        say(self.lead, msg)

    def resume(self, step: int) -> None:
        """Drop records a killed run wrote after its last checkpoint (`step`)."""
        self.writer.truncate_after(step)
        self.announced = logged_events(self.workdir) if self.lead else {}

    def events(self, extra: Any) -> None:
        """The method's one-off events (e.g. SLS's budget step) not logged yet."""
        events = self.method.events(extra)
        if not events:
            return
        for name, at in jax.device_get(events).items():
            if int(at) >= 0 and name not in self.announced:
                self.announced[name] = int(at)
                self.say(f"{self.method.name}: {name} at step {int(at)}")
                self.writer.write(int(at), "event", {name: int(at)})

    def progress(self, steps: int, isatty: bool) -> None:
        if self.lead and not self.quiet:
            self.bar = Progress(steps, "train", interval=0.5 if isatty else 10.0)

    def step(self, metrics: dict) -> None:
        """A step's metrics (device arrays), kept until the next log step."""
        self.pending.append(metrics)
        self.n_log += 1

    def train(self, done: int) -> tuple[dict, int]:
        """Fetch the pending metrics (the host sync), log their mean and the speed; returns
        the record and the count of non-finite steps skipped so far."""
        vals = jax.device_get(self.pending)
        dt = time.perf_counter() - self.t_log
        keys = [k for k in vals[-1] if k != "nonfinite"]  # loss, grad_norm, the method's
        rec = {k: float(np.mean([v[k] for v in vals])) for k in keys}
        nonfinite = int(vals[-1]["nonfinite"])
        if nonfinite:
            rec["nonfinite"] = nonfinite
        rec["steps_per_s"] = self.n_log / dt
        rec["patches_per_s"] = self.n_log * self.batch_size / dt
        self.writer.write(done, "train", rec)
        self.pending, self.t_log, self.n_log = [], time.perf_counter(), 0
        return rec, nonfinite

    def eval(self, done: int, result: dict, params: Any, sample: dict, scale: int) -> None:
        """An evaluation's means, and what TensorBoard shows beside them (per-layer
        sparsity, a bicubic | SR | HR crop); its time stays out of the steps/s window."""
        self.writer.write(done, "eval", result)
        if self.lead:
            self.writer.write(done, "sparsity", layer_sparsity(params))
            self.writer.write_image(done, "bicubic_sr_hr", sample_crop(sample, scale))
        self.t_log = time.perf_counter()

    def bar_text(self, text: str) -> None:
        if self.bar:
            self.bar.update(0, text)

    def tick(self) -> None:
        if self.bar:
            self.bar.update(1, self.bar.postfix)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
        if self.bar:
            self.bar.close()

    def done(self, summary: dict, best: dict, select: str) -> None:
        """The stage's one result line on stdout."""
        if not self.lead or self.quiet:
            return
        parts = [
            f"done: {summary['steps']} steps in {summary['wall_s']:.1f}s on "
            f"{summary['devices']} device(s)"
        ]
        if summary["final_eval"]:
            parts.append(" ".join(f"{k}={v:.3f}" for k, v in summary["final_eval"].items()))
        if best["step"] >= 0:  # a stage without evaluation has no best
            parts.append(f"best {select} {best['value']:.3f} @ {best['step']}")
        print("; ".join([*parts, f"workdir {self.workdir}"]))
