"""Proximal (soft-threshold) step for an L1 penalty, as an optax transform (last in the chain).

For a penalty `strength * |x|` the proximal gradient step after a gradient step of size `eta`
is `x' = sign(y) * max(|y| - eta * strength, 0)` with `y = x + u` (u: the final update of the
chain, i.e. after Adam and the learning rate). `soft_threshold(strength, step_size)` turns `u`
into `x' - x`, so `optax.apply_updates` lands on the proximal point: exact zeros appear and stay
unless a later gradient pushes the value out of the threshold. `step_size` is the learning-rate
schedule of the step (eta_t; a float for a constant); the transform counts its own steps. Only
leaves with a non-zero strength are touched (`strength` is a pytree matching the params, or a
float for every leaf).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class SoftThresholdState(NamedTuple):
    count: jax.Array  # steps taken (the schedule's argument)


def soft(y: jax.Array, t: jax.Array | float) -> jax.Array:
    """sign(y) * max(|y| - t, 0)."""
    return jnp.sign(y) * jnp.maximum(jnp.abs(y) - t, 0.0)


def soft_threshold(
    strength: Any, step_size: float | Callable[[jax.Array], jax.Array]
) -> optax.GradientTransformationExtraArgs:
    """Proximal step of `strength * |x|` with step `step_size` (last in the chain)."""

    def init_fn(params: Any) -> SoftThresholdState:
        del params
        return SoftThresholdState(jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None, **extra):
        del extra
        if params is None:
            raise ValueError("soft_threshold: update() needs params")
        eta = step_size(state.count) if callable(step_size) else step_size
        lam = strength if not isinstance(strength, int | float) else None

        def one(u, p, s):
            if isinstance(s, int | float) and s == 0:
                return u
            return soft(p + u, eta * s) - p

        if lam is None:
            out = jax.tree.map(lambda u, p: one(u, p, float(strength)), updates, params)
        else:
            out = jax.tree.map(one, updates, params, lam)
        return out, SoftThresholdState(optax.safe_increment(state.count))

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
