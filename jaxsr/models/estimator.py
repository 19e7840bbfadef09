"""The MSE estimators of SLS's adaptive inference (SLS §3.6): one light CNN per candidate.

`MSEEstimator` maps LR tiles (N, H, W, 3) in [0, 1] to (N, num_candidates): for candidate i,
its own small CNN predicts log(MSE) of candidate i's SR output of the tile against the
ground truth (the MSE over RGB in [0, 1]; log because tile MSEs span orders of magnitude,
and eq. 8 only uses ratios of estimates). The paper gives no architecture ("a light-weight
CNN"); this one is ours: the window and its local detail (minus a 3x3 box blur) as input, a
3x3 conv, `depth` stride-2 3x3 convs with ReLU, the log of the globally averaged features
and a linear output in units of 4 nats from log(1e-3). Without the detail input, the
bicubic estimator of tests/test_adaptive.py's setting learned only the median error in 300
steps (with it: below the best constant); the log pooling and the output scale are there
because tile errors span orders of magnitude (not ablated separately). About 0.5 % of
RFDN's MACs per window at the defaults.
It is not an SR model: the registry lists it with kind "estimator".
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxsr.models.layers import Conv2d

INIT_LOG_MSE = -6.9
SPAN = 4.0


class _Head(nn.Module):
    features: int
    depth: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.relu(Conv2d(self.features, 3, name="conv_0")(x))
        for d in range(self.depth):
            x = nn.relu(Conv2d(self.features, 3, stride=2, name=f"conv_{d + 1}")(x))
        # log of the pooled (non-negative) features: tile errors scale with powers of the
        # local contrast over orders of magnitude, which a linear head on log features fits
        x = jnp.log(jnp.mean(x, axis=(1, 2)) + 1e-4)
        # in units of SPAN nats from log(1e-3) (PSNR 30 dB): Adam moves a weight by about
        # its lr per step, so the output reaches tile log MSEs (about -14 to -2) within a few
        # hundred steps instead of thousands
        return INIT_LOG_MSE + SPAN * nn.Dense(1, name="out")(x)[:, 0]


class MSEEstimator(nn.Module):
    """(N, H, W, 3) LR tiles -> (N, num_candidates) predicted log MSE per candidate."""

    scale: int = 4  # the candidates' scale (recorded; the estimator works on LR tiles)
    num_candidates: int = 4
    features: int = 16
    depth: int = 3

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        # the window and its local detail (minus a 3x3 box blur, x8): tile errors follow the
        # local contrast, which random first convs see only as a ripple on the brightness
        blur = nn.avg_pool(
            jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge"), (3, 3), (1, 1)
        )
        x = jnp.concatenate([x - 0.5, 8.0 * (x - blur)], axis=-1)
        outs = [
            _Head(self.features, self.depth, name=f"est_{i}")(x) for i in range(self.num_candidates)
        ]
        return jnp.stack(outs, axis=-1)
