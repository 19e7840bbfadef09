"""Optimizers and learning-rate schedules from config.

`make_optimizer(cfg, constraints)` returns
    chain(clip_by_global_norm?, scale_by_adam(b1, b2, eps), scale_by_learning_rate(schedule),
          *constraints)
Constraints (pruning masks, freezes) act on the final update, last in the chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optax


def make_schedule(cfg: Any) -> optax.Schedule:
    """`cfg.schedule` in {constant, step, multistep, cosine_restarts}; lr = cfg.lr.

    - step: lr * gamma ** (t // step_size)
    - multistep: lr * gamma ** (number of milestones <= t)
    - cosine_restarts (BasicSR CosineAnnealingRestartLR): consecutive cosine periods
      `periods`, the i-th starting at lr * restart_weights[i], each decaying to eta_min.
    """
    lr, kind = float(cfg.lr), cfg.schedule
    if kind == "constant":
        return optax.constant_schedule(lr)
    if kind == "step":
        return optax.exponential_decay(lr, int(cfg.step_size), float(cfg.gamma), staircase=True)
    if kind == "multistep":
        bounds = {int(m): float(cfg.gamma) for m in cfg.milestones}
        return optax.piecewise_constant_schedule(lr, bounds)
    if kind == "cosine_restarts":
        periods = [int(p) for p in cfg.periods]
        weights = list(cfg.get("restart_weights", None) or [1.0] * len(periods))
        if len(weights) != len(periods):
            raise ValueError("optim.restart_weights must have one entry per period")
        eta_min = float(cfg.get("eta_min", 0.0))
        scheds = []
        for p, w in zip(periods, weights, strict=True):
            peak = lr * w
            alpha = eta_min / peak if peak else 0.0
            scheds.append(optax.cosine_decay_schedule(peak, p, alpha=alpha))
        bounds, acc = [], 0
        for p in periods[:-1]:
            acc += p
            bounds.append(acc)
        return optax.join_schedules(scheds, bounds)
    raise ValueError(
        f"unknown optim.schedule {kind!r} (constant, step, multistep, cosine_restarts)"
    )


def make_optimizer(
    cfg: Any,
    constraints: Sequence[optax.GradientTransformation] = (),
    pre: Sequence[optax.GradientTransformation] = (),
) -> optax.GradientTransformation:
    """`pre` transforms see the raw gradients (first in the chain), `constraints` the final
    update (last)."""
    parts: list[optax.GradientTransformation] = list(pre)
    if float(cfg.get("clip_norm", 0.0)) > 0:
        parts.append(optax.clip_by_global_norm(float(cfg.clip_norm)))
    parts += [
        optax.scale_by_adam(b1=float(cfg.b1), b2=float(cfg.b2), eps=float(cfg.eps)),
        optax.scale_by_learning_rate(make_schedule(cfg)),
        *constraints,
    ]
    return optax.chain(*parts)
