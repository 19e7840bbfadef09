"""Straight-through N:M reparametrisation (SR-STE's forward pass).

`nm_ste(w, n, m)` is, in the forward pass, exactly the N:M-masked kernel (the mask recomputed
from the current `w`), and in the backward pass the identity: d/dw = the gradient w.r.t. the
masked kernel, for pruned weights too. (Written `w + stop_gradient(masked - w)`: both
`(w - w) + w` and `(0 - w) + w` are exact in floating point, so the forward value is exactly
`where(mask, w, 0)`.)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import traverse_util

from jaxsr.sparsity.nm import nm_mask


def nm_ste(w: jax.Array, n: int | jax.Array, m: int) -> jax.Array:
    masked = jnp.where(nm_mask(w, n, m), w, jnp.zeros_like(w))
    return w + jax.lax.stop_gradient(masked - w)


def nm_ste_params(params: Any, layers: dict[str, tuple[int, int]]) -> Any:
    """`nm_ste` on the leaves named in `layers` ('/'-joined path -> (N, M)); others kept."""
    flat = traverse_util.flatten_dict(params)
    out = {}
    for k, v in flat.items():
        nm = layers.get("/".join(k))
        out[k] = v if nm is None else nm_ste(v, *nm)
    return traverse_util.unflatten_dict(out)
