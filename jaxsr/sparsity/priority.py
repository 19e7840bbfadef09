"""SLS priority scores and straight-through gates (SLS paper eqs. 1-4).

A pruned conv's kernel is the sum of its M 1:M units (`jaxsr.sparsity.nm.units`; unit 1 =
the largest |w| of every group). Unit i is kept when its gate b_i is 1; the gates come from
priority scores p_i through a straight-through step: forward b_i = [p_i > tau], backward
db/dp = 1 (eq. 3). With Priority-Ordered Pruning (POP, eq. 4) p_1 = 1 and
p_i = prod_{n<i} k_n for M-1 trainable k_n in [0, k_max], so p is non-increasing in i and a
unit of larger weights is never dropped before one of smaller weights. Without POP (the
paper's ablation) p_1 = 1 and p_i = k_{i-1} independently. Effective N = sum(b).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxsr.sparsity.nm import units


def priorities(k: jax.Array, pop: bool = True) -> jax.Array:
    """(M-1,) scores -> (M,) priorities: p_1 = 1, then cumprod(k) (POP) or k (no POP)."""
    rest = jnp.cumprod(k) if pop else k
    return jnp.concatenate([jnp.ones((1,), k.dtype), rest])


def ste_gates(p: jax.Array, tau: float = 0.5) -> jax.Array:
    """Forward exactly 1.0 where p > tau else 0.0; backward the identity w.r.t. p."""
    hard = (p > tau).astype(p.dtype)
    return jax.lax.stop_gradient(hard) + (p - jax.lax.stop_gradient(p))


def gated_kernel(w: jax.Array, b: jax.Array, m: int) -> jax.Array:
    """sum_i b_i * unit_i(w) (eq. 2); with binary b it is exactly the N:M-masked kernel."""
    if b.shape != (m,):
        raise ValueError(f"gates shape {b.shape}; expected ({m},)")
    return jnp.tensordot(b.astype(w.dtype), units(w, m), axes=1)


def effective_n(b: jax.Array) -> jax.Array:
    """The layer's N: the number of kept units (differentiable through the STE)."""
    return jnp.sum(b)
