"""Constraints on the final update for auxiliary trainables (place them last in the chain).

`clip_params(lo, hi)`: the update is changed so that `param + update` lies in [lo, hi] (a
projection, e.g. SLS's scores k in [0, k_max]). `freeze_if(key)`: the update is exactly 0
while the boolean method state `key` (an `update` keyword argument, e.g. `frozen=...`) is
true — a freeze inside optax, so Adam's moments cannot move frozen params.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class EmptyState(NamedTuple):
    """Stateless."""


def clip_params(lo: float, hi: float) -> optax.GradientTransformation:
    if lo > hi:
        raise ValueError(f"clip_params: lo={lo} > hi={hi}")

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("clip_params: update() needs params")
        new = jax.tree.map(
            lambda u, p: (jnp.clip(p + u, lo, hi) - p).astype(u.dtype), updates, params
        )
        return new, state

    return optax.GradientTransformation(lambda params: EmptyState(), update_fn)


def freeze_if(key: str) -> optax.GradientTransformationExtraArgs:
    def update_fn(updates, state, params=None, **extra: Any):
        del params
        if key not in extra:
            raise ValueError(f"freeze_if: update() needs {key}=... (the method state)")
        frozen = extra[key]
        return jax.tree.map(lambda u: jnp.where(frozen, jnp.zeros_like(u), u), updates), state

    return optax.GradientTransformationExtraArgs(lambda params: EmptyState(), update_fn)
