"""N:M sparsity of conv kernels along the input channels (the SLS convention).

A conv kernel is HWIO (`I` = input channels per conv group, so a grouped conv's groups are
never mixed). Its N:M groups are M consecutive input channels at each (kh, kw, out) position;
when I % M != 0 the last group is zero-padded (padding never counts as a kept weight). Within a
group the weights are ranked by |w| (rank 0 = the largest; ties go to the lower channel index,
so results are deterministic). An N:M mask keeps the N best-ranked weights of every group
(N may differ per layer). The decomposition into M "1:M units" puts the rank-i weight of every
group in unit i: the units are disjoint and their sum is exactly the kernel; SLS keeps unit 0
and gates units 1..M-1. All functions are jittable and act elementwise per group, so they are
safe under any sharding of the kernel's non-I axes.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from flax import traverse_util


def group_view(w: jax.Array, m: int) -> jax.Array:
    """(kh, kw, I, O) -> (kh, kw, ceil(I/m), m, O), zero-padded along I."""
    if w.ndim != 4:
        raise ValueError(f"expected an HWIO kernel (4 dims), got shape {w.shape}")
    if m < 1:
        raise ValueError(f"M={m} must be >= 1")
    kh, kw, cin, cout = w.shape
    pad = (-cin) % m
    w = jnp.pad(w, ((0, 0), (0, 0), (0, pad), (0, 0)))
    return w.reshape(kh, kw, (cin + pad) // m, m, cout)


def _ungroup(g: jax.Array, cin: int) -> jax.Array:
    kh, kw, ng, m, cout = g.shape
    return g.reshape(kh, kw, ng * m, cout)[:, :, :cin]


@functools.partial(jax.jit, static_argnames="m")
def rank_in_group(w: jax.Array, m: int) -> jax.Array:
    """int32 rank of every weight within its group of M (0 = largest |w|), shape of `w`.

    rank_i = #{j : |w_j| > |w_i|} + #{j < i : |w_j| = |w_i|}, counted with an (M, M)
    comparison per group: the ranks of a stable descending sort, without a sort (XLA:CPU's
    sort along a short axis was ~25-150x slower; see BENCHMARKS.md, N:M overhead). Jitted (M
    static): called eagerly, e.g. by a method's `init` per layer, it compiles one program per
    kernel shape instead of one per operation; the ranks are exact integers either way."""
    mag = jnp.abs(group_view(w, m))  # checks the shape
    cin = w.shape[2]
    real = group_view(jnp.ones_like(w, dtype=bool), m)
    key = jnp.where(real, mag, -1.0)  # padding ranks after every real weight
    other = key[:, :, :, :, None, :]  # j
    this = key[:, :, :, None, :, :]  # i
    idx = jnp.arange(m)
    earlier = (idx[:, None] < idx[None, :])[None, None, None, :, :, None]  # j < i
    beats = (other > this) | ((other == this) & earlier)
    return _ungroup(jnp.sum(beats, axis=3, dtype=jnp.int32), cin)


def nm_mask(w: jax.Array, n: int | jax.Array, m: int) -> jax.Array:
    """bool mask keeping the `n` largest-|w| weights of every group of `m` input channels."""
    return rank_in_group(w, m) < n


@functools.partial(jax.jit, static_argnames="m")
def units(w: jax.Array, m: int) -> jax.Array:
    """(m, *w.shape): unit i holds the rank-i weight of every group, zeros elsewhere.

    The units are disjoint, so `units(w, m).sum(0) == w` exactly."""
    ranks = rank_in_group(w, m)
    return jnp.stack([jnp.where(ranks == i, w, jnp.zeros_like(w)) for i in range(m)])


@functools.partial(jax.jit, static_argnames="m")
def nonzeros_per_group(w: jax.Array, m: int) -> jax.Array:
    """Number of non-zero weights in every group, shape (kh, kw, ceil(I/m), O)."""
    return jnp.sum(group_view(w, m) != 0, axis=3)


def nm_masks(params: Any, layers: dict[str, tuple[int, int]]) -> dict:
    """Masks pytree (only the leaves named in `layers`: '/'-joined path -> (N, M))."""
    flat = traverse_util.flatten_dict(params)
    return traverse_util.unflatten_dict(
        {k: nm_mask(v, *layers["/".join(k)]) for k, v in flat.items() if "/".join(k) in layers}
    )
