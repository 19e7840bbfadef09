"""In-training evaluation: the configured benchmark sets (`eval.root`, `eval.sets`) through
`jaxsr.evaluation` (the code `jaxsr.evaluate` runs, so the numbers are the same), when it
is due (`eval.every` and the last step), and the best value of `eval.select` so far."""

from __future__ import annotations

import math
from typing import Any

from jaxsr import evaluation
from jaxsr.data.benchmark import BenchmarkSet, load_set
from jaxsr.inference import Predictor


def load_eval_sets(cfg: Any, scale: int) -> list[BenchmarkSet]:
    root = cfg.eval.get("root")
    if not root or not cfg.eval.sets:
        return []
    return [load_set(root, name, scale) for name in cfg.eval.sets]


def evaluate_params(
    pred: Predictor, params: Any, sets: list[BenchmarkSet], sample: dict | None = None
) -> dict[str, float]:
    """Mean Y-PSNR/SSIM (and RGB PSNR) per set: keys like `Set5/psnr_y`. `sample` (a dict)
    receives the first image of the first set: its name, LR, SR (uint8) and HR."""
    pred.params = params
    return evaluation.set_means(pred, sets, sample)


class Evaluator:
    """The stage's evaluation; `last` (the latest means) and `best` ({"step", "value"} of
    `eval.select`, step -1 before any) go into checkpoints so a resumed run keeps them."""

    def __init__(self, cfg: Any, model: Any, scale: int):
        self.sets = load_eval_sets(cfg, scale)
        self.every = int(cfg.eval.every)
        self.select = cfg.eval.get("select", "")
        self.pred = Predictor(model, None, scale)
        self.best: dict = {"step": -1, "value": -math.inf}
        self.last: dict[str, float] = {}

    def __bool__(self) -> bool:
        return bool(self.sets)

    def restore(self, meta: dict) -> None:
        self.best = meta.get("best", self.best)
        self.last = meta.get("last_eval", {})

    def due(self, done: int, total: int) -> bool:
        return bool(self.sets) and (done % self.every == 0 or done == total)

    def __call__(self, params: Any, sample: dict | None = None) -> dict[str, float]:
        self.last = evaluate_params(self.pred, params, self.sets, sample)
        return self.last

    def improved(self, step: int, first: bool = False) -> bool:
        """Whether the latest evaluation is the best so far (`first`: the stage's only one);
        if so it becomes `best`."""
        if not self.select or self.select not in self.last:
            return False
        value = self.last[self.select]
        if not first and not value > self.best["value"]:
            return False
        self.best = {"step": step, "value": value}
        return True

    def psnr(self) -> str:
        """The latest Y-PSNR, for the progress bar (empty before any evaluation)."""
        return next((f" psnr {v:.2f}" for k, v in self.last.items() if k.endswith("psnr_y")), "")
