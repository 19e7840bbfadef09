"""RFDN (Liu et al., AIM 2020 efficient-SR winner; `njulj/RFDN`)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxsr.models.layers import Conv2d, lrelu, pixel_shuffle, resize_bilinear_torch


class ESA(nn.Module):
    """Enhanced spatial attention: strided conv, 7x7/3 max-pool, convs, bilinear back, gate."""

    num_feat: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        f = self.num_feat // 4
        c1_ = Conv2d(f, 1, name="conv1")(x)
        c1 = Conv2d(f, 3, stride=2, padding=0, name="conv2")(c1_)
        v_max = nn.max_pool(c1, (7, 7), strides=(3, 3), padding="VALID")
        v_range = nn.relu(Conv2d(f, 3, name="conv_max")(v_max))
        c3 = nn.relu(Conv2d(f, 3, name="conv3")(v_range))
        c3 = Conv2d(f, 3, name="conv3_")(c3)
        c3 = resize_bilinear_torch(c3, x.shape[1:3])
        cf = Conv2d(f, 1, name="conv_f")(c1_)
        c4 = Conv2d(self.num_feat, 1, name="conv4")(c3 + cf)
        return x * nn.sigmoid(c4)


class RFDB(nn.Module):
    """Residual feature distillation block (three distillation stages + ESA)."""

    num_feat: int
    slope: float = 0.05

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dc, rc = self.num_feat // 2, self.num_feat
        act = lrelu(self.slope)
        d1 = act(Conv2d(dc, 1, name="c1_d")(x))
        r1 = act(Conv2d(rc, 3, name="c1_r")(x) + x)
        d2 = act(Conv2d(dc, 1, name="c2_d")(r1))
        r2 = act(Conv2d(rc, 3, name="c2_r")(r1) + r1)
        d3 = act(Conv2d(dc, 1, name="c3_d")(r2))
        r3 = act(Conv2d(rc, 3, name="c3_r")(r2) + r2)
        r4 = act(Conv2d(dc, 3, name="c4")(r3))
        out = Conv2d(self.num_feat, 1, name="c5")(jnp.concatenate([d1, d2, d3, r4], axis=-1))
        return ESA(self.num_feat, name="esa")(out)


class RFDN(nn.Module):
    """RFDN; public input/output RGB in [0, 1].

    `pixel_range` is the range the weights were trained on: the published RFDN_AIM weights
    (`rfdn_x4.pth`) expect RGB in [0, 255], so the default 255 scales the input up and the
    output back down inside the model. Use 1.0 for weights trained on [0, 1].
    """

    scale: int = 4
    num_feat: int = 50
    num_modules: int = 4
    pixel_range: float = 255.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        nf = self.num_feat
        x = x * self.pixel_range
        fea = Conv2d(nf, 3, name="fea_conv")(x)
        outs, h = [], fea
        for i in range(self.num_modules):
            h = RFDB(nf, name=f"B{i + 1}")(h)
            outs.append(h)
        b = lrelu(0.05)(Conv2d(nf, 1, name="c_0")(jnp.concatenate(outs, axis=-1)))
        lr = Conv2d(nf, 3, name="LR_conv")(b) + fea
        out = pixel_shuffle(Conv2d(3 * self.scale**2, 3, name="upsampler_0")(lr), self.scale)
        return out / self.pixel_range


__all__ = ["ESA", "RFDB", "RFDN", "resize_bilinear_torch"]
