"""IMDN (Hui et al., ACM MM 2019; official `Zheng222/IMDN`): 6 IMDBs with contrast attention."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxsr.models.layers import Conv2d, lrelu, pixel_shuffle


class CCALayer(nn.Module):
    """Contrast-aware channel attention: (std + mean) over H, W -> 1x1 -> ReLU -> 1x1 -> sigmoid."""

    channels: int
    reduction: int = 16

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        mean = jnp.mean(x, axis=(1, 2), keepdims=True)
        std = jnp.sqrt(jnp.mean(jnp.square(x - mean), axis=(1, 2), keepdims=True))
        y = nn.relu(Conv2d(self.channels // self.reduction, 1, name="conv_du_0")(std + mean))
        y = nn.sigmoid(Conv2d(self.channels, 1, name="conv_du_2")(y))
        return x * y


class IMDModule(nn.Module):
    """Information multi-distillation block: 3 split stages, concat, CCA, 1x1, residual."""

    num_feat: int = 64
    distillation_rate: float = 0.25

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        nf = self.num_feat
        dc = int(nf * self.distillation_rate)
        act = lrelu(0.05)
        o1 = act(Conv2d(nf, 3, name="c1")(x))
        o2 = act(Conv2d(nf, 3, name="c2")(o1[..., dc:]))
        o3 = act(Conv2d(nf, 3, name="c3")(o2[..., dc:]))
        o4 = Conv2d(dc, 3, name="c4")(o3[..., dc:])
        out = jnp.concatenate([o1[..., :dc], o2[..., :dc], o3[..., :dc], o4], axis=-1)
        out = CCALayer(dc * 4, name="cca")(out)
        return Conv2d(nf, 1, name="c5")(out) + x


class IMDN(nn.Module):
    """IMDN; input/output RGB in [0, 1] (as the published weights)."""

    scale: int = 4
    num_feat: int = 64
    num_modules: int = 6

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        nf = self.num_feat
        fea = Conv2d(nf, 3, name="fea_conv")(x)
        outs, h = [], fea
        for i in range(self.num_modules):
            h = IMDModule(nf, name=f"IMDB{i + 1}")(h)
            outs.append(h)
        b = lrelu(0.05)(Conv2d(nf, 1, name="c_0")(jnp.concatenate(outs, axis=-1)))
        lr = Conv2d(nf, 3, name="LR_conv")(b) + fea
        return pixel_shuffle(Conv2d(3 * self.scale**2, 3, name="upsampler_0")(lr), self.scale)
