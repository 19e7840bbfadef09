"""RFDN (Liu et al., AIM 2020 efficient-SR winner; `njulj/RFDN`)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxsr.models.layers import (
    Widths,
    check_esa_input,
    conv,
    lrelu,
    pixel_shuffle,
    resize_bilinear_torch,
)


class ESA(nn.Module):
    """Enhanced spatial attention: strided conv, 7x7/3 max-pool, convs, bilinear back, gate."""

    num_feat: int
    widths: Widths = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        f = self.num_feat // 4
        check_esa_input(x, "RFDN")
        c1_ = conv(self, "conv1", f, 1)(x)
        c1 = conv(self, "conv2", f, 3, stride=2, padding=0)(c1_)
        v_max = nn.max_pool(c1, (7, 7), strides=(3, 3), padding="VALID")
        v_range = nn.relu(conv(self, "conv_max", f, 3)(v_max))
        c3 = nn.relu(conv(self, "conv3", f, 3)(v_range))
        c3 = conv(self, "conv3_", f, 3)(c3)
        c3 = resize_bilinear_torch(c3, x.shape[1:3])
        cf = conv(self, "conv_f", f, 1)(c1_)
        c4 = conv(self, "conv4", self.num_feat, 1)(c3 + cf)
        return x * nn.sigmoid(c4)


class RFDB(nn.Module):
    """Residual feature distillation block (three distillation stages + ESA)."""

    num_feat: int
    slope: float = 0.05
    widths: Widths = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dc, rc = self.num_feat // 2, self.num_feat
        act = lrelu(self.slope)
        d1 = act(conv(self, "c1_d", dc, 1)(x))
        r1 = act(conv(self, "c1_r", rc, 3)(x) + x)
        d2 = act(conv(self, "c2_d", dc, 1)(r1))
        r2 = act(conv(self, "c2_r", rc, 3)(r1) + r1)
        d3 = act(conv(self, "c3_d", dc, 1)(r2))
        r3 = act(conv(self, "c3_r", rc, 3)(r2) + r2)
        r4 = act(conv(self, "c4", dc, 3)(r3))
        out = conv(self, "c5", self.num_feat, 1)(jnp.concatenate([d1, d2, d3, r4], axis=-1))
        return ESA(self.num_feat, self.widths, name="esa")(out)


class RFDN(nn.Module):
    """RFDN; public input/output RGB in [0, 1].

    `pixel_range` is the range the weights were trained on: the published RFDN_AIM weights
    (`rfdn_x4.pth`) expect RGB in [0, 255], so the default 255 scales the input up and the
    output back down inside the model. Use 1.0 for weights trained on [0, 1]. `widths`
    overrides single convs' output channels (a channel-pruned RFDN, `jaxsr.channels`).
    """

    scale: int = 4
    num_feat: int = 50
    num_modules: int = 4
    pixel_range: float = 255.0
    widths: Widths = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        nf = self.num_feat
        x = x * self.pixel_range
        fea = conv(self, "fea_conv", nf, 3)(x)
        outs, h = [], fea
        for i in range(self.num_modules):
            h = RFDB(nf, widths=self.widths, name=f"B{i + 1}")(h)
            outs.append(h)
        b = lrelu(0.05)(conv(self, "c_0", nf, 1)(jnp.concatenate(outs, axis=-1)))
        lr = conv(self, "LR_conv", nf, 3)(b) + fea
        out = pixel_shuffle(conv(self, "upsampler_0", 3 * self.scale**2, 3)(lr), self.scale)
        return out / self.pixel_range


__all__ = ["ESA", "RFDB", "RFDN", "resize_bilinear_torch"]
