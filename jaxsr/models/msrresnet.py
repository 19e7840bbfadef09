"""MSRResNet (BasicSR `srresnet_arch.MSRResNet`): SRResNet without BN, with a bilinear skip."""

from __future__ import annotations

import flax.linen as nn
import jax

from jaxsr.models.layers import (
    Widths,
    conv,
    kaiming_normal_scaled,
    lrelu,
    pixel_shuffle,
    resize_bilinear_torch,
)


class ResidualBlockNoBN(nn.Module):
    """`x + res_scale * conv2(relu(conv1(x)))`."""

    num_feat: int = 64
    res_scale: float = 1.0
    init_scale: float = 0.1
    widths: Widths = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        init = kaiming_normal_scaled(self.init_scale)
        y = conv(self, "conv1", self.num_feat, 3, kernel_init=init)(x)
        y = conv(self, "conv2", self.num_feat, 3, kernel_init=init)(nn.relu(y))
        return x + y * self.res_scale


class MSRResNet(nn.Module):
    """BasicSR's MSRResNet; input/output RGB in [0, 1] (NHWC).

    x4 upsamples with two (conv nf->4nf, PixelShuffle 2, LReLU 0.1) stages, x2/x3 with one;
    the output adds a bilinear (align_corners=False) upsampling of the input.
    Init: Kaiming normal (fan_in) x 0.1, zero bias, as BasicSR's `default_init_weights`.
    `widths` overrides single convs' output channels (a channel-pruned MSRResNet).
    """

    scale: int = 4
    num_feat: int = 64
    num_block: int = 16
    num_in_ch: int = 3
    num_out_ch: int = 3
    widths: Widths = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.scale not in (2, 3, 4):
            raise ValueError(f"MSRResNet supports scale 2, 3, 4, got {self.scale}")
        init = kaiming_normal_scaled(0.1)
        act = lrelu(0.1)
        nf = self.num_feat
        feat = act(conv(self, "conv_first", nf, 3, kernel_init=init)(x))
        out = feat
        for i in range(self.num_block):
            out = ResidualBlockNoBN(nf, widths=self.widths, name=f"body_{i}")(out)
        ups = [("upconv1", 2), ("upconv2", 2)] if self.scale == 4 else [("upconv1", self.scale)]
        for name, r in ups:
            out = act(pixel_shuffle(conv(self, name, nf * r * r, 3, kernel_init=init)(out), r))
        out = act(conv(self, "conv_hr", nf, 3, kernel_init=init)(out))
        out = conv(self, "conv_last", self.num_out_ch, 3, kernel_init=init)(out)
        n, h, w, _ = x.shape
        return out + resize_bilinear_torch(x, (h * self.scale, w * self.scale))
