"""The proximal (soft-threshold) transform against its closed form."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxsr.optim.proximal import soft_threshold

floats = st.floats(-2.0, 2.0, allow_nan=False, width=32)


def test_hand_computed_step():
    tx = soft_threshold({"z": 0.5, "w": 0.0}, 0.1)
    p = {"z": jnp.array([0.3, -0.3, 0.02, 1.0]), "w": jnp.array([0.01])}
    u = {"z": jnp.array([-0.1, 0.0, 0.0, 0.2]), "w": jnp.array([0.0])}
    out, _ = tx.update(u, tx.init(p), p)
    new = optax.apply_updates(p, out)
    # y = p + u = [0.2, -0.3, 0.02, 1.2], threshold 0.1 * 0.5 = 0.05
    np.testing.assert_allclose(new["z"], [0.15, -0.25, 0.0, 1.15], atol=1e-7)
    assert new["z"][2] == 0.0  # an exact zero
    assert new["w"][0] == np.float32(0.01)  # strength 0: untouched


@settings(max_examples=60, deadline=None)
@given(p=floats, u=floats, lam=st.floats(0.0, 1.0), eta=st.floats(1e-4, 1.0))
def test_matches_closed_form(p, u, lam, eta):
    tx = soft_threshold(lam, eta)
    x, g = jnp.array([p], jnp.float32), jnp.array([u], jnp.float32)
    out, _ = tx.update(g, tx.init(x), x)
    got = float((x + out)[0])
    y = np.float32(p) + np.float32(u)
    want = np.sign(y) * max(abs(y) - np.float32(eta) * np.float32(lam), 0.0)
    assert abs(got - want) <= 1e-6 * max(1.0, abs(want))
    if abs(y) <= eta * lam * (1 - 1e-6):
        assert got == 0.0


def test_step_size_follows_the_schedule():
    tx = soft_threshold(1.0, optax.piecewise_constant_schedule(0.1, {1: 0.5}))
    p, u = jnp.array([1.0]), jnp.array([0.0])
    s = tx.init(p)
    a, s = tx.update(u, s, p)
    b, s = tx.update(u, s, p)
    np.testing.assert_allclose([a[0], b[0]], [-0.1, -0.05], atol=1e-7)
    assert int(s.count) == 2
