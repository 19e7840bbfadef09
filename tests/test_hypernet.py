"""The DHP-style hypernetwork against an explicit loop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxsr.sparsity import hypernet


def test_generate_matches_a_loop_and_init_scale():
    h = hypernet.init(jax.random.key(0), 3, 4, 3, emb=5)
    h = {k: v + 0.1 for k, v in h.items()}  # non-zero biases
    z_in, z_out = jnp.array([1.0, -0.5, 2.0]), jnp.array([0.3, 1.0, 0.0, -2.0])
    got = np.asarray(hypernet.generate(h, z_in, z_out))
    hn = {k: np.asarray(v, np.float64) for k, v in h.items()}
    want = np.zeros((3, 3, 3, 4))
    for i in range(3):
        for o in range(4):
            e = (float(z_in[i] * z_out[o]) + hn["b0"][i, o]) * hn["w1"][i, o] + hn["b1"][i, o]
            taps = e @ hn["w2"][i, o] + hn["b2"][i, o]  # (9,)
            want[:, :, i, o] = taps.reshape(3, 3)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    big = hypernet.init(jax.random.key(1), 64, 64, 3)
    w = hypernet.generate(big, jnp.ones(64), jnp.ones(64))
    assert w.shape == (3, 3, 64, 64)
    assert abs(float(jnp.var(w)) * 64 * 9 - 1.0) < 0.1  # DHP's hyperfan-in: 1 / (cin k^2)
