"""Evaluation of an SR function on benchmark sets, shared by `jaxsr.evaluate` (per-image
tables, saved images) and the trainer's in-training evaluation (per-set means); the metric
names are `jaxsr.metrics.KEYS` / `TRAINING_KEYS`."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxsr import metrics
from jaxsr.configs_lib import check_positive
from jaxsr.data.benchmark import BenchmarkSet
from jaxsr.data.images import write_png
from jaxsr.progress import Progress

SRFunction = Callable[[np.ndarray], np.ndarray]  # uint8 LR -> float HR in [0, 1]


def evaluate_set(
    sr_fn: SRFunction,
    bset: BenchmarkSet,
    save_dir: str | os.PathLike | None = None,
    show: bool = True,
    sample: dict | None = None,
) -> dict[str, Any]:
    """`sr_fn` over a set: the mean of every `metrics.KEYS` and the per-image metrics.
    `save_dir`: SR PNGs written to save_dir/SET/xSCALE/NAME.png; `show`: a progress bar;
    `sample` (an empty dict) receives the first image's name, LR, SR (uint8) and HR."""
    per_image: dict[str, dict[str, float]] = {}
    bar = Progress(len(bset.pairs), f"{bset.name} x{bset.scale}") if show else None
    for pair in bset.pairs:
        sr = metrics.to_uint8(sr_fn(pair.lr))
        if sr.shape != pair.hr.shape:
            raise ValueError(f"{bset.name}/{pair.name}: SR shape {sr.shape} != HR {pair.hr.shape}")
        if sample is not None and not sample:
            sample.update(name=f"{bset.name}/{pair.name}", lr=pair.lr, sr=sr, hr=pair.hr)
        per_image[pair.name] = metrics.all_metrics(sr, pair.hr, crop_border=bset.scale)
        if save_dir is not None:
            write_png(Path(save_dir) / bset.name / f"x{bset.scale}" / f"{pair.name}.png", sr)
        if bar:
            bar.update(postfix=f"{pair.name} {per_image[pair.name]['psnr_y']:.2f}dB")
    result: dict[str, Any] = {
        k: float(np.mean([v[k] for v in per_image.values()])) for k in metrics.KEYS
    }
    result.update(num_images=len(per_image), lr_source=bset.lr_source, images=per_image)
    return result


def set_means(
    sr_fn: SRFunction, sets: Sequence[BenchmarkSet], sample: dict | None = None
) -> dict[str, float]:
    """The trainer's evaluation: `SET/KEY` -> mean over the set, KEY in
    `metrics.TRAINING_KEYS`; `sample` as in `evaluate_set` (the first set's first image)."""
    out: dict[str, float] = {}
    for bset in sets:
        res = evaluate_set(sr_fn, bset, show=False, sample=sample)
        out.update({f"{bset.name}/{k}": res[k] for k in metrics.TRAINING_KEYS})
    return out


def training_keys(sets: Sequence[str]) -> list[str]:
    """The names `set_means` gives for the sets `sets`."""
    return [f"{s}/{k}" for s in sets for k in metrics.TRAINING_KEYS]


def check_config(ev: Any) -> None:
    """`config.eval`: sets present under `root`, `every` > 0, `select` among the names
    `set_means` will give."""
    sets, root, select = tuple(ev.get("sets") or ()), ev.get("root"), ev.get("select", "")
    if sets:
        check_positive(ev, "every", name="eval.every")
        if not root:
            raise ValueError(f"eval.sets={list(sets)} but eval.root is empty")
        for s in sets:
            if not isinstance(s, str) or not s.strip() or s != s.strip():
                raise ValueError(f"eval.sets: bad set name {s!r}")
            if not (Path(root) / s / "HR").is_dir():
                raise FileNotFoundError(f"eval.sets: {Path(root) / s / 'HR'}: no such folder")
    if select:
        keys = training_keys(sets)
        if select not in keys:
            hint = f"one of {keys}" if keys else "empty (no eval.sets)"
            raise ValueError(f"eval.select={select!r} is not an eval metric; expected {hint}")
