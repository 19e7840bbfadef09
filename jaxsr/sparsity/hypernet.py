"""DHP-style hypernetwork: a conv kernel generated from channel vectors (FMP / DHP).

Per conv with `cin` inputs, `cout` outputs and a k x k kernel (DHP, Li et al. ECCV 2020, the
closest implemented relative of FMP):

    Z = z_in z_out^T + b0                    latent matrix (cin, cout): outer product
    E = Z[..., None] * w1 + b1               embedding, elementwise per (i, o): (cin, cout, m)
    W[i, o] = E[i, o] @ w2[i, o] + b2[i, o]  explicit layer to the k*k kernel taps

so `W` has the conv's HWIO shape (k, k, cin, cout). z_in is the channel vector of the conv's
input channels, z_out of its output channels (shared by every conv tied to them). `init`
follows DHP's code (`ofsoundof/dhp`): biases 0, w1 ~ U(+-sqrt 3) (variance 1), w2 ~
U(+-sqrt(3 / (m cin k^2))) ("hyperfan-in"), so at |z_in z_out| = 1 the generated kernel has
variance 1 / (cin k^2) whatever the embedding size m; DHP draws the latent vectors from
N(0, 1).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def _uniform(key: jax.Array, shape: tuple[int, ...], bound: jax.Array) -> jax.Array:
    """`jax.random.uniform(key, shape, minval=-bound, maxval=bound)`, the same bits, drawn
    flat: XLA:CPU compiles a rank-4 threefry draw ~50x slower than a rank-1 one
    (`jaxsr.models.layers.fan_in_init`)."""
    flat = jax.random.uniform(key, (math.prod(shape),), minval=-bound, maxval=bound)
    return flat.reshape(shape)


def init(key: jax.Array, cin: int, cout: int, k: int, emb: int = 8) -> dict[str, jax.Array]:
    """Hypernetwork params {b0, w1, b1, w2, b2} for one conv."""
    k1, k2 = jax.random.split(key)
    bound2 = jnp.sqrt(3.0 / (emb * cin * k * k))
    return {
        "b0": jnp.zeros((cin, cout)),
        "w1": _uniform(k1, (cin, cout, emb), jnp.sqrt(3.0)),
        "b1": jnp.zeros((cin, cout, emb)),
        "w2": _uniform(k2, (cin, cout, emb, k * k), bound2),
        "b2": jnp.zeros((cin, cout, k * k)),
    }


def generate(h: dict[str, jax.Array], z_in: jax.Array, z_out: jax.Array) -> jax.Array:
    """The HWIO kernel of hypernetwork `h` for channel vectors `z_in` (cin,), `z_out` (cout,)."""
    cin, cout, _, kk = h["w2"].shape
    latent = z_in[:, None] * z_out[None, :] + h["b0"]
    emb = latent[..., None] * h["w1"] + h["b1"]
    w = jnp.einsum("ioe,ioek->iok", emb, h["w2"]) + h["b2"]
    k = int(round(kk**0.5))
    return w.reshape(cin, cout, k, k).transpose(2, 3, 0, 1)
