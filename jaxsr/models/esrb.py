"""ESRB, the efficient SR baseline that FMP prunes (ESRB-6-256): a reconstruction.

Only FMP's supplement describes ESRB (B basic blocks, C channels; Table 1: 8,180K / 8,215K /
8,264K params and 1,877.8G / 836.8G / 474.2G FLOPs at x2 / x3 / x4 for a 1280x720 output); no
code is public. Reviews of the paper's submission describe its block as RLFN's residual local
feature block simplified ("fewer ReLUs, more ESA"). This reconstruction takes RLFN's block
(Kong et al., NTIRE 2022) with two 3x3 convs instead of three:

    block(x) = ESA(conv1x1(x + conv3x3(lrelu(conv3x3(x)))))
    ESA(h)   = h * sigmoid(conv4(up(conv3(maxpool7/3(conv2_s2(conv1(h))))) + conv_f(conv1(h))))

with ESA's 16 inner channels (RLFN's), LeakyReLU 0.05, a 3x3 head conv 3 -> C, a 3x3 conv
closing the body plus a skip from the head, and the upsampler one 3x3 conv C -> 3 s^2 + pixel
shuffle (the scale differences of Table 1 fit exactly that conv). For B = 6, C = 256 the
parameter counts are 8,180,876 / 8,215,451 / 8,263,856 (Table 1, in units of 1K: 8,180 /
8,215 / 8,264) and the conv MACs 1,877.75G / 836.78G / 474.21G (Table 1: 1,877.8 / 836.8 /
474.2; `tests/test_esrb.py`). Which activation sits where,
and ESA's exact inner layout, are our reading; they change no count. Input/output RGB in
[0, 1]. `widths` overrides single convs' output channels (a channel-pruned ESRB).
"""

from __future__ import annotations

import flax.linen as nn
import jax

from jaxsr.models.layers import (
    Widths,
    check_esa_input,
    conv,
    lrelu,
    pixel_shuffle,
    resize_bilinear_torch,
)


class ESA16(nn.Module):
    """RLFN's enhanced spatial attention (16 inner channels by default)."""

    num_feat: int
    inner: int = 16
    widths: Widths = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        f = self.inner
        check_esa_input(x, "ESRB")
        c1_ = conv(self, "conv1", f, 1)(x)
        c1 = conv(self, "conv2", f, 3, stride=2, padding=0)(c1_)
        v_max = nn.max_pool(c1, (7, 7), strides=(3, 3), padding="VALID")
        c3 = resize_bilinear_torch(conv(self, "conv3", f, 3)(v_max), x.shape[1:3])
        cf = conv(self, "conv_f", f, 1)(c1_)
        return x * nn.sigmoid(conv(self, "conv4", self.num_feat, 1)(c3 + cf))


class ESRBBlock(nn.Module):
    num_feat: int
    widths: Widths = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = lrelu(0.05)(conv(self, "conv1", self.num_feat, 3)(x))
        y = conv(self, "conv2", self.num_feat, 3)(y) + x
        y = conv(self, "conv5", self.num_feat, 1)(y)
        return ESA16(self.num_feat, widths=self.widths, name="esa")(y)


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
