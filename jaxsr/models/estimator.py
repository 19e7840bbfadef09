"""The MSE estimators of SLS's adaptive inference (SLS §3.6): one light CNN per candidate.

`MSEEstimator` maps LR tiles (N, H, W, 3) in [0, 1] to (N, num_candidates): for candidate i,
its own small CNN predicts log(MSE) of candidate i's SR output of the tile against the
ground truth (the MSE over RGB in [0, 1]; log because tile MSEs span orders of magnitude,
and eq. 8 only uses ratios of estimates). The paper gives no architecture ("a light-weight
CNN"); this one is ours: a 3x3 conv, `depth` stride-2 3x3 convs with ReLU, a global mean
and a linear output, `features` channels (~0.5 % of RFDN's MACs per tile at the defaults).
It is not an SR model: the registry lists it with kind "estimator".
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxsr.models.layers import Conv2d

INIT_LOG_MSE = -6.9


class _Head(nn.Module):
    features: int
    depth: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.relu(Conv2d(self.features, 3, name="conv_0")(x))
        for d in range(self.depth):
            x = nn.relu(Conv2d(self.features, 3, stride=2, name=f"conv_{d + 1}")(x))
        x = jnp.mean(x, axis=(1, 2))
        # bias starts at log(1e-3) (PSNR 30 dB), where SR tile errors lie, not at 0 (MSE 1)
        return nn.Dense(1, bias_init=nn.initializers.constant(INIT_LOG_MSE), name="out")(x)[:, 0]


class MSEEstimator(nn.Module):
    """(N, H, W, 3) LR tiles -> (N, num_candidates) predicted log MSE per candidate."""

    scale: int = 4  # the candidates' scale (recorded; the estimator works on LR tiles)
    num_candidates: int = 4
    features: int = 16
    depth: int = 3

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = x - 0.5
        outs = [
            _Head(self.features, self.depth, name=f"est_{i}")(x) for i in range(self.num_candidates)
        ]
        return jnp.stack(outs, axis=-1)
