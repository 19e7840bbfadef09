"""N:M primitives against a plain-Python re-statement of the SLS unit convention."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxsr.sparsity import nm_mask, nonzeros_per_group, rank_in_group, units


def _reference_ranks(w: np.ndarray, m: int) -> np.ndarray:
    """Loop over every (kh, kw, out) position and group of m input channels, as the SLS code
    does on (O, I, kh, kw) weights: rank by |w| descending, ties to the lower channel."""
    kh, kw, cin, cout = w.shape
    ranks = np.zeros(w.shape, np.int64)
    for y, x, o in itertools.product(range(kh), range(kw), range(cout)):
        for g0 in range(0, cin, m):
            idx = list(range(g0, min(g0 + m, cin)))
            order = sorted(idx, key=lambda i: (-abs(w[y, x, i, o]), i))
            for r, i in enumerate(order):
                ranks[y, x, i, o] = r
    return ranks


kernels = st.builds(
    lambda kh, cin, cout, seed, ties: np.round(
        np.random.default_rng(seed).normal(size=(kh, kh, cin, cout)), 1 if ties else 6
    ).astype(np.float32),
    st.sampled_from([1, 3]),
    st.integers(1, 19),
    st.integers(1, 4),
    st.integers(0, 10_000),
    st.booleans(),
)


# jitted, as inside a train step: one compile per drawn shape instead of one per eager op
_rank = jax.jit(rank_in_group, static_argnums=1)
_mask = jax.jit(nm_mask, static_argnums=(1, 2))
_count = jax.jit(nonzeros_per_group, static_argnums=1)
_units = jax.jit(units, static_argnums=1)


@pytest.mark.slow
@settings(max_examples=30, deadline=None)
@given(w=kernels, m=st.sampled_from([1, 2, 3, 4, 8, 16]), data=st.data())
def test_mask_ranks_units_match_reference(w, m, data):
    n = data.draw(st.integers(0, m))
    ref = _reference_ranks(w, m)
    np.testing.assert_array_equal(np.asarray(_rank(jnp.asarray(w), m)), ref)
    mask = np.asarray(_mask(jnp.asarray(w), n, m))
    np.testing.assert_array_equal(mask, ref < n)
    # every group keeps at most n weights, exactly min(n, group size) counting padding out
    masked = np.where(mask, w, 0)
    counts = np.asarray(_count(jnp.asarray(masked), m))
    assert counts.max(initial=0) <= n
    cin = w.shape[2]
    sizes = np.array([min(m, cin - g0) for g0 in range(0, cin, m)])
    kept = np.asarray(_count(jnp.asarray(mask.astype(np.float32)), m))
    expect = np.minimum(n, sizes)[None, None, :, None]
    np.testing.assert_array_equal(kept, np.broadcast_to(expect, kept.shape))
    # the units are disjoint and sum exactly to the kernel; unit 0 is every group's max |w|
    u = np.asarray(_units(jnp.asarray(w), m))
    assert u.shape == (m, *w.shape)
    np.testing.assert_array_equal(u.sum(0), w)
    assert ((u != 0).sum(0) <= 1).all()
    np.testing.assert_array_equal(u[0] != 0, (ref == 0) & (w != 0))


def test_hand_computed_2_of_4():
    # one position, 6 input channels, M = 4: groups [.1 -.5 .3 .2] and [.9 -.4 (pad pad)]
    w = np.array([0.1, -0.5, 0.3, 0.2, 0.9, -0.4], np.float32).reshape(1, 1, 6, 1)
    mask = np.asarray(nm_mask(jnp.asarray(w), 2, 4)).ravel()
    assert mask.tolist() == [False, True, True, False, True, True]
    u = np.asarray(units(jnp.asarray(w), 4))[:, 0, 0, :, 0]
    assert u[0].tolist() == pytest.approx([0, -0.5, 0, 0, 0.9, 0])
    assert u[1].tolist() == pytest.approx([0, 0, 0.3, 0, 0, -0.4])
    assert u[2].tolist() == pytest.approx([0, 0, 0, 0.2, 0, 0])
    assert u[3].tolist() == pytest.approx([0.1, 0, 0, 0, 0, 0])


def test_jittable_with_traced_n_and_errors():
    w = jnp.asarray(np.random.default_rng(0).normal(size=(3, 3, 10, 5)), jnp.float32)
    f = jax.jit(nm_mask, static_argnums=2)
    for n in (1, 3):
        np.testing.assert_array_equal(
            np.asarray(f(w, jnp.int32(n), 4)), np.asarray(nm_mask(w, n, 4))
        )
    with pytest.raises(ValueError, match="HWIO"):
        nm_mask(jnp.ones((3, 3)), 1, 4)
