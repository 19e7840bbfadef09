"""DHP-style hypernetwork: a conv kernel generated from channel vectors (FMP / DHP).

Per conv with `cin` inputs, `cout` outputs and a k x k kernel (DHP, Li et al. ECCV 2020, the
closest implemented relative of FMP):

    Z = z_in z_out^T                         latent matrix (cin, cout): outer product
    E = Z[..., None] * w1 + b1               embedding, elementwise per (i, o): (cin, cout, m)
    W[i, o] = E[i, o] @ w2[i, o] + b2[i, o]  explicit layer to the k*k kernel taps

so `W` has the conv's HWIO shape (k, k, cin, cout). z_in is the channel vector of the conv's
input channels, z_out of its output channels (shared by every conv tied to them). `init`
scales w2 so that at z = 1 the generated kernel has the variance of PyTorch's default conv
init (Var = 1 / (3 fan_in)), whatever the embedding size m.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def init(key: jax.Array, cin: int, cout: int, k: int, emb: int = 8) -> dict[str, jax.Array]:
    """Hypernetwork params {w1, b1, w2, b2} for one conv."""
    k1, k2 = jax.random.split(key)
    target_var = 1.0 / (3.0 * cin * k * k)
    return {
        "w1": jax.random.normal(k1, (cin, cout, emb)),
        "b1": jnp.zeros((cin, cout, emb)),
        "w2": jax.random.normal(k2, (cin, cout, emb, k * k)) * jnp.sqrt(target_var / emb),
        "b2": jnp.zeros((cin, cout, k * k)),
    }


def generate(h: dict[str, jax.Array], z_in: jax.Array, z_out: jax.Array) -> jax.Array:
    """The HWIO kernel of hypernetwork `h` for channel vectors `z_in` (cin,), `z_out` (cout,)."""
    cin, cout, _, kk = h["w2"].shape
    latent = z_in[:, None] * z_out[None, :]
    emb = latent[..., None] * h["w1"] + h["b1"]
    w = jnp.einsum("ioe,ioek->iok", emb, h["w2"]) + h["b2"]
    k = int(round(kk**0.5))
    return w.reshape(cin, cout, k, k).transpose(2, 3, 0, 1)
