"""SLS budget maths (eqs. 5-7): MACs of N:M layers and the annealed regulariser weight.

`costs` maps a pruned kernel's '/'-joined path to its dense MACs C_l (summed over its calls,
at the 1280x720-output convention: `jaxsr.complexity.conv_costs`); a layer with N of M units
kept costs C_l * N / M. Pure jnp: differentiable through the gates' straight-through N.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


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


def unit_costs(kernel_shape: tuple[int, ...], dense_macs: float, m: int) -> np.ndarray:
    """MACs of each of the M 1:M units of a conv kernel (HWIO) whose dense MACs are
    `dense_macs`: unit i holds one weight of every group that has an i-th real (not padding)
    input channel, so with I = g*M + r input channels unit i has g + [i < r] weights per
    (kh, kw, out) position. The units sum to `dense_macs`; when M divides I every unit costs
    C_l / M, and sum_i b_i * unit_costs[i] is eq. 5. When it does not (e.g. 12 input channels,
    M = 32) this is the exact MACs of the kept non-zero weights, as `jaxsr.complexity`
    counts them, where eq. 5 would count padding."""
    if len(kernel_shape) != 4:
        raise ValueError(f"expected an HWIO kernel shape, got {kernel_shape}")
    cin = int(kernel_shape[2])
    full, rest = divmod(cin, m)
    per_unit = np.full(m, full, np.float64) + (np.arange(m) < rest)
    return per_unit * (float(dense_macs) / cin)


def gated_cost(costs: dict[str, np.ndarray], gates: dict[str, jax.Array]) -> jax.Array:
    """sum over layers of sum_i b_i * unit_costs_i (the eq. 6 regulariser; differentiable
    through straight-through gates)."""
    if set(costs) != set(gates):
        raise ValueError(
            f"costs and gates name different layers: {sorted(set(costs) ^ set(gates))}"
        )
    total = jnp.zeros((), jnp.float32)
    for k in sorted(costs):
        total = total + jnp.dot(jnp.asarray(costs[k], jnp.float32), gates[k].astype(jnp.float32))
    return total
