"""Task losses by config name (`train.loss`): images in [0, 1], mean over every pixel."""

from __future__ import annotations

import jax.numpy as jnp

LOSSES = {
    "l1": lambda pred, target: jnp.mean(jnp.abs(pred - target)),
    "mse": lambda pred, target: jnp.mean(jnp.square(pred - target)),
}


def check(name: str) -> None:
    if name not in LOSSES:
        raise ValueError(f"unknown train.loss {name!r}; known: {sorted(LOSSES)}")
