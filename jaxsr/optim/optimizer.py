"""Optimizers and learning-rate schedules from config.

`make_optimizer(cfg)` returns
    chain(clip_by_global_norm?, scale_by_adam(b1, b2, eps), scale_by_learning_rate(schedule))
which a method wraps (`Method.optimizer`): constraints (masks, freezes) last, gradient terms
first, auxiliary trainables through `optax.partition`.
"""

from __future__ import annotations

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
        return optax.sgdr_schedule(
            [
                {
                    "init_value": lr * w,
                    "peak_value": lr * w,
                    "warmup_steps": 0,
                    "decay_steps": p,
                    "end_value": eta_min,
                }
                for p, w in zip(periods, weights, strict=True)
            ]
        )
    raise ValueError(
        f"unknown optim.schedule {kind!r} (constant, step, multistep, cosine_restarts)"
    )


def make_optimizer(cfg: Any) -> optax.GradientTransformation:
    """The base optimizer of `cfg` (config.optim); methods wrap it (`Method.optimizer`)."""
    parts: list[optax.GradientTransformation] = []
    if float(cfg.get("clip_norm", 0.0)) > 0:
        parts.append(optax.clip_by_global_norm(float(cfg.clip_norm)))
    parts += [
        optax.scale_by_adam(b1=float(cfg.b1), b2=float(cfg.b2), eps=float(cfg.eps)),
        optax.scale_by_learning_rate(make_schedule(cfg)),
    ]
    return optax.chain(*parts)
