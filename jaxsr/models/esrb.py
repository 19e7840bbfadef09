"""ESRB, the "efficient SR baseline" FMP prunes (ESRB-6-256) — a reconstruction.

Only FMP's supplement describes ESRB: B basic blocks, C channels, parameters 8,180K / 8,215K /
8,264K and FLOPs 1,877.8G / 836.8G / 474.2G (x2 / x3 / x4, 1280x720 output), no public code.
The parameter differences between scales equal one 3x3 conv C -> 3*s^2 with bias (6,915 s^2:
x3 - x2 = 34.6K, x4 - x2 = 82.98K; the table, rounded to 1K, gives 35K and 84K), so the upsampler
here is that conv + pixel shuffle at LR resolution. The rest is our reconstruction, EDSR-style:
a 3x3 head conv 3 -> C, B residual blocks `x + conv3x3(relu(conv3x3(x)))`, a 3x3 conv closing
the body, a global skip from the head, then the upsampler; input/output RGB in [0, 1], no mean
shift. For B = 6, C = 256 this has 7,706K / 7,740K / 7,789K params and 1,774.6G / 791.0G /
448.4G MACs, 5.4-5.8 % below Table 1 (`tests/test_esrb.py` prints the comparison): the table's
counts imply about 448K more weights applied at LR resolution and ~30K more params applied to
no pixel (biases, or e.g. channel attention on pooled features) than described anywhere.
`widths` overrides single convs' output channels (a channel-pruned ESRB).
"""

from __future__ import annotations

import flax.linen as nn
import jax

from jaxsr.models.layers import Widths, conv, pixel_shuffle


class ESRBBlock(nn.Module):
    num_feat: int
    widths: Widths = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = nn.relu(conv(self, "conv1", self.num_feat, 3)(x))
        return x + conv(self, "conv2", self.num_feat, 3)(y)


class ESRB(nn.Module):
    """ESRB-B-C (reconstruction, see the module docstring)."""

    scale: int = 4
    num_feat: int = 256
    num_block: int = 6
    widths: Widths = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        head = conv(self, "head", self.num_feat, 3)(x)
        h = head
        for i in range(self.num_block):
            h = ESRBBlock(self.num_feat, self.widths, name=f"block_{i}")(h)
        h = conv(self, "body_end", self.num_feat, 3)(h) + head
        return pixel_shuffle(conv(self, "upsampler", 3 * self.scale**2, 3)(h), self.scale)
