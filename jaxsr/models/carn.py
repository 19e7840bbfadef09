"""CARN and CARN-M (Ahn et al., ECCV 2018; `nmhkahn/CARN-pytorch`)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxsr.models.layers import Widths, conv, mean_shift, pixel_shuffle

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


class ResidualBlock(nn.Module):
    """CARN: relu(x + conv(relu(conv(x))))."""

    num_feat: int = 64
    widths: Widths = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = nn.relu(conv(self, "body_0", self.num_feat, 3)(x))
        return nn.relu(conv(self, "body_2", self.num_feat, 3)(y) + x)


class EResidualBlock(nn.Module):
    """CARN-M: relu(x + conv1x1(relu(gconv(relu(gconv(x))))))."""

    num_feat: int = 64
    groups: int = 4
    widths: Widths = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = nn.relu(conv(self, "body_0", self.num_feat, 3, groups=self.groups)(x))
        y = nn.relu(conv(self, "body_2", self.num_feat, 3, groups=self.groups)(y))
        return nn.relu(conv(self, "body_4", self.num_feat, 1)(y) + x)


class BasicBlock(nn.Module):
    """CARN `BasicBlock`: conv + ReLU (used as the 1x1 fusion convs)."""

    num_feat: int = 64
    kernel_size: int = 1
    widths: Widths = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return nn.relu(conv(self, "body_0", self.num_feat, self.kernel_size)(x))


class CascadingBlock(nn.Module):
    """Local cascade of three residual units joined by 1x1 convs.

    CARN-M (`mobile=True`) applies one efficient residual block three times (shared weights,
    module `b1`); CARN uses three distinct residual blocks `b1`, `b2`, `b3`.
    """

    num_feat: int = 64
    mobile: bool = False
    groups: int = 4
    widths: Widths = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        nf, w = self.num_feat, self.widths
        if self.mobile:
            shared = EResidualBlock(nf, self.groups, w, name="b1")
            units = [shared, shared, shared]
        else:
            units = [ResidualBlock(nf, w, name=f"b{i}") for i in (1, 2, 3)]
        c, o = x, x
        for i, unit in enumerate(units, start=1):
            c = jnp.concatenate([c, unit(o)], axis=-1)
            o = BasicBlock(nf, widths=w, name=f"c{i}")(c)
        return o


class Upsample(nn.Module):
    """CARN `_UpsampleBlock`: (conv nf->4nf, ReLU, PixelShuffle 2) x log2(s), or one x3 stage."""

    num_feat: int
    scale: int
    groups: int = 1
    widths: Widths = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.scale == 3:
            stages = [(3, 0)]
        elif self.scale in (2, 4, 8):
            stages = [(2, 3 * i) for i in range(self.scale.bit_length() - 1)]
        else:
            raise ValueError(f"CARN supports scale 2, 3, 4, 8, got {self.scale}")
        for r, idx in stages:
            c = conv(self, f"body_{idx}", self.num_feat * r * r, 3, groups=self.groups)
            x = pixel_shuffle(nn.relu(c(x)), r)
        return x


class UpsampleBlock(nn.Module):
    """Holds the single-scale head as `up` (the multi-scale file's `up{s}` maps onto it)."""

    num_feat: int
    scale: int
    groups: int = 1
    widths: Widths = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return Upsample(self.num_feat, self.scale, self.groups, self.widths, name="up")(x)


class CARN(nn.Module):
    """CARN (`mobile=False`) / CARN-M (`mobile=True`, grouped convs); RGB in [0, 1].

    The fixed `MeanShift` convs of the original are constants here, not parameters.
    `widths` overrides single convs' output channels (a channel-pruned CARN).
    """

    scale: int = 4
    num_feat: int = 64
    mobile: bool = False
    groups: int = 4
    widths: Widths = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        nf, w = self.num_feat, self.widths
        up_groups = self.groups if self.mobile else 1
        x = mean_shift(x, DIV2K_MEAN, -1.0)
        x = conv(self, "entry", nf, 3)(x)
        c, o = x, x
        for i in (1, 2, 3):
            b = CascadingBlock(nf, self.mobile, self.groups, w, name=f"b{i}")(o)
            c = jnp.concatenate([c, b], axis=-1)
            o = BasicBlock(nf, widths=w, name=f"c{i}")(c)
        out = UpsampleBlock(nf, self.scale, up_groups, w, name="upsample")(o)
        out = conv(self, "exit", 3, 3)(out)
        return mean_shift(out, DIV2K_MEAN, 1.0)
