"""`nm_decay(lam, layers)`: SR-STE's sparse-refined term, λ_w·(1−mask)·w added to the gradient.

Place it first in the chain (it acts on the raw gradient, before Adam, as in SR-STE:
g̃ = g(W̃) + λ_w·(1−E)⊙W). The N:M mask E is recomputed from the current params, so the term
pulls exactly the currently pruned weights towards 0. `layers` maps '/'-joined param paths to
(N, M); other leaves pass through.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
import optax
from flax import traverse_util

from jaxsr.sparsity.nm import nm_mask


class NMDecayState(NamedTuple):
    """Stateless."""


def nm_decay(lam: float, layers: dict[str, tuple[int, int]]) -> optax.GradientTransformation:
    if lam < 0:
        raise ValueError(f"nm_decay: lambda must be >= 0, got {lam}")

    def init_fn(params: Any) -> NMDecayState:
        del params
        return NMDecayState()

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("nm_decay: update() needs params")
        flat_u = traverse_util.flatten_dict(updates)
        flat_p = traverse_util.flatten_dict(params)
        out = {}
        for k, u in flat_u.items():
            nm = layers.get("/".join(k))
            if nm is None:
                out[k] = u
            else:
                w = flat_p[k]
                pruned = jnp.where(nm_mask(w, *nm), jnp.zeros_like(w), w)
                out[k] = (u + lam * pruned).astype(u.dtype)
        return traverse_util.unflatten_dict(out), state

    return optax.GradientTransformation(init_fn, update_fn)
