"""EDSR (Lim et al., CVPR-W 2017; `sanghyun-son/EDSR-PyTorch`), baseline = 16 blocks x 64."""

from __future__ import annotations

import flax.linen as nn
import jax

from jaxsr.models.layers import Widths, conv, mean_shift, pixel_shuffle

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


class ResBlock(nn.Module):
    num_feat: int
    res_scale: float = 1.0
    widths: Widths = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = nn.relu(conv(self, "body_0", self.num_feat, 3)(x))
        y = conv(self, "body_2", self.num_feat, 3)(y)
        return x + y * self.res_scale


class EDSR(nn.Module):
    """EDSR; public input/output RGB in [0, 1].

    `rgb_range` (255 by default, as EDSR-PyTorch's `--rgb_range`) is the range the weights
    work in: the input is multiplied by it before `sub_mean` and the output divided after.
    `widths` overrides single convs' output channels (a channel-pruned EDSR).
    """

    scale: int = 4
    num_feat: int = 64
    num_block: int = 16
    res_scale: float = 1.0
    rgb_range: float = 255.0
    widths: Widths = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        nf = self.num_feat
        mean = tuple(m * self.rgb_range for m in DIV2K_MEAN)
        x = mean_shift(x * self.rgb_range, mean, -1.0)
        x = conv(self, "head_0", nf, 3)(x)
        res = x
        for i in range(self.num_block):
            res = ResBlock(nf, self.res_scale, self.widths, name=f"body_{i}")(res)
        res = conv(self, f"body_{self.num_block}", nf, 3)(res) + x
        if self.scale in (2, 4, 8):
            out = res
            for i in range(self.scale.bit_length() - 1):
                out = pixel_shuffle(conv(self, f"tail_0_{2 * i}", 4 * nf, 3)(out), 2)
        elif self.scale == 3:
            out = pixel_shuffle(conv(self, "tail_0_0", 9 * nf, 3)(res), 3)
        else:
            raise ValueError(f"EDSR supports scale 2, 3, 4, 8, got {self.scale}")
        out = conv(self, "tail_1", 3, 3)(out)
        return mean_shift(out, mean, 1.0) / self.rgb_range
