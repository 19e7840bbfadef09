"""`keep_masked()`: keep pruned weights exactly zero, acting on the final update.

Place it last in the optax chain. It reads the masks from the `masks=` extra argument of
`update` (the trainer passes `TrainState.extra`), so masks stay beside params rather than in
the optimizer state. For a pruned weight the update becomes `-param`, so the weight after
`optax.apply_updates` is exactly 0 whatever Adam's moments say (and stays 0 if it already was).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
import optax

from jaxsr.sparsity.masks import map_masked


class KeepMaskedState(NamedTuple):
    """Stateless (masks come in through `update`'s `masks=` argument)."""


def keep_masked() -> optax.GradientTransformationExtraArgs:
    def init_fn(params: Any) -> KeepMaskedState:
        del params
        return KeepMaskedState()

    def update_fn(updates, state, params=None, *, masks=None, **extra):
        del extra
        if masks is None:
            raise ValueError("keep_masked: update() needs masks=... (TrainState.extra['masks'])")
        if params is None:
            raise ValueError("keep_masked: update() needs params")
        new = map_masked(
            lambda u, m, p: jnp.where(m, u, -p).astype(u.dtype), updates, masks, params
        )
        return new, state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
