"""IMDN (Hui et al., ACM MM 2019; official `Zheng222/IMDN`): 6 IMDBs with contrast attention."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxsr.models.layers import Widths, conv, lrelu, pixel_shuffle, width_of


class CCALayer(nn.Module):
    """Contrast-aware channel attention: (std + mean) over H, W -> 1x1 -> ReLU -> 1x1 -> sigmoid."""

    channels: int
    reduction: int = 16
    widths: Widths = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        mean = jnp.mean(x, axis=(1, 2), keepdims=True)
        std = jnp.sqrt(jnp.mean(jnp.square(x - mean), axis=(1, 2), keepdims=True))
        y = nn.relu(conv(self, "conv_du_0", self.channels // self.reduction, 1)(std + mean))
        y = nn.sigmoid(conv(self, "conv_du_2", x.shape[-1], 1)(y))
        return x * y


class IMDModule(nn.Module):
    """Information multi-distillation block: 3 split stages, concat, CCA, 1x1, residual.

    Each of c1..c3 splits its output into (distilled, remaining) channels; a width override
    for them is that pair (`widths={"IMDB1/c1": (12, 40)}`)."""

    num_feat: int = 64
    distillation_rate: float = 0.25
    widths: Widths = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        nf = self.num_feat
        dc = int(nf * self.distillation_rate)
        act = lrelu(0.05)
        h, distilled = x, []
        for name in ("c1", "c2", "c3"):
            seg = width_of(self, name, (dc, nf - dc))
            if not isinstance(seg, tuple) or len(seg) != 2:
                path = "/".join((*self.path, name))
                raise ValueError(f"IMDN widths[{path!r}] = {seg!r}: expected (distilled, rest)")
            o = act(conv(self, name, nf, 3)(h))
            distilled.append(o[..., : seg[0]])
            h = o[..., seg[0] :]
        o4 = conv(self, "c4", dc, 3)(h)
        out = jnp.concatenate([*distilled, o4], axis=-1)
        out = CCALayer(dc * 4, widths=self.widths, name="cca")(out)
        return conv(self, "c5", nf, 1)(out) + x


class IMDN(nn.Module):
    """IMDN; input/output RGB in [0, 1] (as the published weights)."""

    scale: int = 4
    num_feat: int = 64
    num_modules: int = 6
    widths: Widths = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        nf = self.num_feat
        fea = conv(self, "fea_conv", nf, 3)(x)
        outs, h = [], fea
        for i in range(self.num_modules):
            h = IMDModule(nf, widths=self.widths, name=f"IMDB{i + 1}")(h)
            outs.append(h)
        b = lrelu(0.05)(conv(self, "c_0", nf, 1)(jnp.concatenate(outs, axis=-1)))
        lr = conv(self, "LR_conv", nf, 3)(b) + fea
        return pixel_shuffle(conv(self, "upsampler_0", 3 * self.scale**2, 3)(lr), self.scale)
