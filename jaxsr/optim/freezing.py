"""DUPru's freeze (paper eq. 4): weights with |w| < eps get no update.

`freeze_below(eps)` zeroes the *final* update of every selected weight whose magnitude is below
`eps` (place it last in the chain, after Adam and the learning rate), so Adam's momentum can
not move it. `zero_grads_below(eps)` optionally also zeroes those weights' gradients before
Adam (first in the chain), which keeps the moments clean. Only the leaves selected by `masks`
(the prunable params) are affected when masks are given; without masks every leaf is.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxsr.sparsity.masks import map_masked


class FreezeBelowState(NamedTuple):
    """Stateless."""


def _freeze(tree: Any, params: Any, masks: Any, eps: float) -> Any:
    def fn(u, *rest):
        p = rest[-1]
        return jnp.where(jnp.abs(p) < eps, jnp.zeros_like(u), u)

    if masks is None:
        return jax.tree.map(lambda u, p: fn(u, p), tree, params)
    return map_masked(lambda u, m, p: fn(u, m, p), tree, masks, params)


def _transform(eps: float, name: str) -> optax.GradientTransformationExtraArgs:
    if eps < 0:
        raise ValueError(f"{name}: eps must be >= 0, got {eps}")

    def init_fn(params: Any) -> FreezeBelowState:
        del params
        return FreezeBelowState()

    def update_fn(updates, state, params=None, *, masks=None, **extra):
        del extra
        if params is None:
            raise ValueError(f"{name}: update() needs params")
        return _freeze(updates, params, masks, eps), state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def freeze_below(eps: float) -> optax.GradientTransformationExtraArgs:
    """Zero final update where |param| < eps (last in the chain)."""
    return _transform(eps, "freeze_below")


def zero_grads_below(eps: float) -> optax.GradientTransformationExtraArgs:
    """Zero the gradient where |param| < eps (first in the chain, before Adam)."""
    return _transform(eps, "zero_grads_below")
