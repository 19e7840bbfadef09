"""SLS budget maths (eqs. 5-7): MACs of N:M layers and the annealed regulariser weight.

`costs` maps a pruned kernel's '/'-joined path to its dense MACs C_l (summed over its calls,
at the 1280x720-output convention: `jaxsr.complexity.conv_costs`); a layer with N of M units
kept costs C_l * N / M. Pure jnp: differentiable through the gates' straight-through N.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def pruned_cost(costs: dict[str, float], n: dict[str, jax.Array], m: int) -> jax.Array:
    """sum_l C_l * N_l / M over the pruned layers (eq. 5 summed as in eq. 6)."""
    if set(costs) != set(n):
        raise ValueError(f"costs and N name different layers: {sorted(set(costs) ^ set(n))}")
    return sum(jnp.asarray(c, jnp.float32) * n[k] / m for k, c in sorted(costs.items()))


def anneal(
    lam: jax.Array, ratio_now: jax.Array, ratio_before: jax.Array, threshold: float, alpha: float
) -> jax.Array:
    """Eq. 7: lam * alpha if the pruned-ratio change over the last K steps is <= threshold."""
    return jnp.where(jnp.abs(ratio_now - ratio_before) <= threshold, lam * alpha, lam)
