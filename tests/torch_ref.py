"""Independent PyTorch re-statements of the SR architectures (NCHW, the original key names).

Written for the tests from the architectures' published definitions; they share no code
with jaxsr. Their `state_dict()` keys are those of the published checkpoints, so the same
classes load `../shared/weights/*.pth` with `strict=True`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, padding: int | None = None):
    return nn.Conv2d(
        cin, cout, k, stride, (k - 1) // 2 if padding is None else padding, groups=groups
    )


# ----------------------------------------------------------------------------- MSRResNet
class ResidualBlockNoBN(nn.Module):
    def __init__(self, nf: int):
        super().__init__()
        self.conv1, self.conv2 = conv(nf, nf, 3), conv(nf, nf, 3)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x)))


class MSRResNet(nn.Module):
    def __init__(self, scale: int = 4, nf: int = 64, nb: int = 16):
        super().__init__()
        self.scale = scale
        self.conv_first = conv(3, nf, 3)
        self.body = nn.Sequential(*[ResidualBlockNoBN(nf) for _ in range(nb)])
        if scale == 4:
            self.upconv1, self.upconv2 = conv(nf, nf * 4, 3), conv(nf, nf * 4, 3)
            self.pixel_shuffle = nn.PixelShuffle(2)
        else:
            self.upconv1 = conv(nf, nf * scale * scale, 3)
            self.pixel_shuffle = nn.PixelShuffle(scale)
        self.conv_hr, self.conv_last = conv(nf, nf, 3), conv(nf, 3, 3)

    def forward(self, x):
        act = lambda t: F.leaky_relu(t, 0.1)  # noqa: E731
        out = self.body(act(self.conv_first(x)))
        out = act(self.pixel_shuffle(self.upconv1(out)))
        if self.scale == 4:
            out = act(self.pixel_shuffle(self.upconv2(out)))
        out = self.conv_last(act(self.conv_hr(out)))
        return out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)


# ----------------------------------------------------------------------------- EDSR
class MeanShift(nn.Conv2d):
    def __init__(self, rgb_range: float, sign: float):
        super().__init__(3, 3, 1)
        mean = torch.tensor([0.4488, 0.4371, 0.4040])
        self.weight.data = torch.eye(3).view(3, 3, 1, 1)
        self.bias.data = sign * rgb_range * mean
        for p in self.parameters():
            p.requires_grad = False


class EDSRResBlock(nn.Module):
    def __init__(self, nf: int):
        super().__init__()
        self.body = nn.Sequential(conv(nf, nf, 3), nn.ReLU(True), conv(nf, nf, 3))

    def forward(self, x):
        return self.body(x) + x


class EDSR(nn.Module):
    def __init__(self, scale: int = 4, nf: int = 64, nb: int = 16, rgb_range: float = 255.0):
        super().__init__()
        self.sub_mean, self.add_mean = MeanShift(rgb_range, -1), MeanShift(rgb_range, 1)
        self.head = nn.Sequential(conv(3, nf, 3))
        self.body = nn.Sequential(*[EDSRResBlock(nf) for _ in range(nb)], conv(nf, nf, 3))
        up: list[nn.Module] = []
        if scale == 3:
            up += [conv(nf, 9 * nf, 3), nn.PixelShuffle(3)]
        else:
            for _ in range(int(math.log2(scale))):
                up += [conv(nf, 4 * nf, 3), nn.PixelShuffle(2)]
        self.tail = nn.Sequential(nn.Sequential(*up), conv(nf, 3, 3))

    def forward(self, x):  # x in [0, rgb_range]
        x = self.head(self.sub_mean(x))
        return self.add_mean(self.tail(self.body(x) + x))


# ----------------------------------------------------------------------------- RFDN
class ESA(nn.Module):
    def __init__(self, nf: int):
        super().__init__()
        f = nf // 4
        self.conv1, self.conv_f = conv(nf, f, 1), conv(f, f, 1)
        self.conv_max, self.conv2 = conv(f, f, 3), conv(f, f, 3, stride=2, padding=0)
        self.conv3, self.conv3_ = conv(f, f, 3), conv(f, f, 3)
        self.conv4 = conv(f, nf, 1)

    def forward(self, x):
        c1_ = self.conv1(x)
        c1 = self.conv2(c1_)
        v = F.relu(self.conv_max(F.max_pool2d(c1, kernel_size=7, stride=3)))
        c3 = self.conv3_(F.relu(self.conv3(v)))
        c3 = F.interpolate(c3, (x.size(2), x.size(3)), mode="bilinear", align_corners=False)
        return x * torch.sigmoid(self.conv4(c3 + self.conv_f(c1_)))


class RFDB(nn.Module):
    def __init__(self, nf: int):
        super().__init__()
        dc = nf // 2
        self.c1_d, self.c1_r = conv(nf, dc, 1), conv(nf, nf, 3)
        self.c2_d, self.c2_r = conv(nf, dc, 1), conv(nf, nf, 3)
        self.c3_d, self.c3_r = conv(nf, dc, 1), conv(nf, nf, 3)
        self.c4, self.c5 = conv(nf, dc, 3), conv(dc * 4, nf, 1)
        self.esa = ESA(nf)

    def forward(self, x):
        a = lambda t: F.leaky_relu(t, 0.05)  # noqa: E731
        d1, r1 = a(self.c1_d(x)), a(self.c1_r(x) + x)
        d2, r2 = a(self.c2_d(r1)), a(self.c2_r(r1) + r1)
        d3, r3 = a(self.c3_d(r2)), a(self.c3_r(r2) + r2)
        r4 = a(self.c4(r3))
        return self.esa(self.c5(torch.cat([d1, d2, d3, r4], 1)))


class RFDN(nn.Module):
    def __init__(self, scale: int = 4, nf: int = 50, nm: int = 4):
        super().__init__()
        self.fea_conv = conv(3, nf, 3)
        for i in range(nm):
            setattr(self, f"B{i + 1}", RFDB(nf))
        self.nm = nm
        self.c = nn.Sequential(conv(nf * nm, nf, 1), nn.LeakyReLU(0.05))
        self.LR_conv = conv(nf, nf, 3)
        self.upsampler = nn.Sequential(conv(nf, 3 * scale * scale, 3), nn.PixelShuffle(scale))

    def forward(self, x):  # x in [0, 255] for the published weights
        fea = self.fea_conv(x)
        outs, h = [], fea
        for i in range(self.nm):
            h = getattr(self, f"B{i + 1}")(h)
            outs.append(h)
        return self.upsampler(self.LR_conv(self.c(torch.cat(outs, 1))) + fea)


# ----------------------------------------------------------------------------- IMDN
class CCALayer(nn.Module):
    def __init__(self, ch: int, reduction: int = 16):
        super().__init__()
        self.conv_du = nn.Sequential(
            nn.Conv2d(ch, ch // reduction, 1),
            nn.ReLU(True),
            nn.Conv2d(ch // reduction, ch, 1),
            nn.Sigmoid(),
        )

    def forward(self, x):
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True).pow(0.5)
        return x * self.conv_du(std + mean)


class IMDModule(nn.Module):
    def __init__(self, nf: int = 64):
        super().__init__()
        self.dc, self.rc = nf // 4, nf - nf // 4
        self.c1, self.c2 = conv(nf, nf, 3), conv(self.rc, nf, 3)
        self.c3, self.c4 = conv(self.rc, nf, 3), conv(self.rc, self.dc, 3)
        self.c5, self.cca = conv(self.dc * 4, nf, 1), CCALayer(self.dc * 4)

    def forward(self, x):
        a = lambda t: F.leaky_relu(t, 0.05)  # noqa: E731
        d1, r1 = torch.split(a(self.c1(x)), (self.dc, self.rc), 1)
        d2, r2 = torch.split(a(self.c2(r1)), (self.dc, self.rc), 1)
        d3, r3 = torch.split(a(self.c3(r2)), (self.dc, self.rc), 1)
        out = torch.cat([d1, d2, d3, self.c4(r3)], 1)
        return self.c5(self.cca(out)) + x


class IMDN(nn.Module):
    def __init__(self, scale: int = 4, nf: int = 64, nm: int = 6):
        super().__init__()
        self.nm = nm
        self.fea_conv = conv(3, nf, 3)
        for i in range(nm):
            setattr(self, f"IMDB{i + 1}", IMDModule(nf))
        self.c = nn.Sequential(conv(nf * nm, nf, 1), nn.LeakyReLU(0.05))
        self.LR_conv = conv(nf, nf, 3)
        self.upsampler = nn.Sequential(conv(nf, 3 * scale * scale, 3), nn.PixelShuffle(scale))

    def forward(self, x):
        fea = self.fea_conv(x)
        outs, h = [], fea
        for i in range(self.nm):
            h = getattr(self, f"IMDB{i + 1}")(h)
            outs.append(h)
        return self.upsampler(self.LR_conv(self.c(torch.cat(outs, 1))) + fea)


# ----------------------------------------------------------------------------- CARN / CARN-M
class CARNMeanShift(nn.Module):
    def __init__(self, sign: float):
        super().__init__()
        self.shifter = nn.Conv2d(3, 3, 1)
        self.shifter.weight.data = torch.eye(3).view(3, 3, 1, 1)
        self.shifter.bias.data = sign * torch.tensor([0.4488, 0.4371, 0.4040])
        for p in self.parameters():
            p.requires_grad = False

    def forward(self, x):
        return self.shifter(x)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 1), nn.ReLU(True))

    def forward(self, x):
        return self.body(x)


class CARNResidual(nn.Module):
    def __init__(self, nf: int):
        super().__init__()
        self.body = nn.Sequential(conv(nf, nf, 3), nn.ReLU(True), conv(nf, nf, 3))

    def forward(self, x):
        return F.relu(self.body(x) + x)


class EResidual(nn.Module):
    def __init__(self, nf: int, group: int):
        super().__init__()
        self.body = nn.Sequential(
            conv(nf, nf, 3, groups=group),
            nn.ReLU(True),
            conv(nf, nf, 3, groups=group),
            nn.ReLU(True),
            nn.Conv2d(nf, nf, 1),
        )

    def forward(self, x):
        return F.relu(self.body(x) + x)


class UpsampleHead(nn.Module):
    def __init__(self, nf: int, scale: int, group: int):
        super().__init__()
        mods: list[nn.Module] = []
        if scale == 3:
            mods += [conv(nf, 9 * nf, 3, groups=group), nn.ReLU(True), nn.PixelShuffle(3)]
        else:
            for _ in range(int(math.log2(scale))):
                mods += [conv(nf, 4 * nf, 3, groups=group), nn.ReLU(True), nn.PixelShuffle(2)]
        self.body = nn.Sequential(*mods)

    def forward(self, x):
        return self.body(x)


class Upsample(nn.Module):
    def __init__(self, nf: int, scale: int, multi_scale: bool, group: int):
        super().__init__()
        self.multi_scale = multi_scale
        if multi_scale:
            self.up2, self.up3 = UpsampleHead(nf, 2, group), UpsampleHead(nf, 3, group)
            self.up4 = UpsampleHead(nf, 4, group)
        else:
            self.up = UpsampleHead(nf, scale, group)

    def forward(self, x, scale: int):
        return getattr(self, f"up{scale}")(x) if self.multi_scale else self.up(x)


class CARNBlock(nn.Module):
    def __init__(self, nf: int, mobile: bool, group: int):
        super().__init__()
        self.mobile = mobile
        if mobile:
            self.b1 = EResidual(nf, group)
        else:
            self.b1, self.b2, self.b3 = CARNResidual(nf), CARNResidual(nf), CARNResidual(nf)
        self.c1, self.c2, self.c3 = (
            BasicBlock(nf * 2, nf),
            BasicBlock(nf * 3, nf),
            BasicBlock(nf * 4, nf),
        )

    def forward(self, x):
        units = [self.b1] * 3 if self.mobile else [self.b1, self.b2, self.b3]
        c = o = x
        for unit, fuse in zip(units, [self.c1, self.c2, self.c3], strict=True):
            c = torch.cat([c, unit(o)], 1)
            o = fuse(c)
        return o


class CARN(nn.Module):
    def __init__(
        self, scale: int = 4, mobile: bool = False, multi_scale: bool = False, group: int = 4
    ):
        super().__init__()
        nf = 64
        self.scale = scale
        self.sub_mean, self.add_mean = CARNMeanShift(-1), CARNMeanShift(1)
        self.entry = nn.Conv2d(3, nf, 3, 1, 1)
        self.b1, self.b2 = CARNBlock(nf, mobile, group), CARNBlock(nf, mobile, group)
        self.b3 = CARNBlock(nf, mobile, group)
        self.c1, self.c2, self.c3 = (
            BasicBlock(nf * 2, nf),
            BasicBlock(nf * 3, nf),
            BasicBlock(nf * 4, nf),
        )
        self.upsample = Upsample(nf, scale, multi_scale, group if mobile else 1)
        self.exit = nn.Conv2d(nf, 3, 3, 1, 1)

    def forward(self, x):
        x = self.entry(self.sub_mean(x))
        c = o = x
        for blk, fuse in zip([self.b1, self.b2, self.b3], [self.c1, self.c2, self.c3], strict=True):
            c = torch.cat([c, blk(o)], 1)
            o = fuse(c)
        return self.add_mean(self.exit(self.upsample(o, self.scale)))


def build(name: str, scale: int, **kw) -> tuple[nn.Module, float]:
    """(torch model, pixel range its forward expects)."""
    if name == "msrresnet":
        return MSRResNet(scale, **kw), 1.0
    if name == "edsr_baseline":
        return EDSR(scale, **kw), 255.0
    if name == "rfdn":
        return RFDN(scale, **kw), 255.0
    if name == "imdn":
        return IMDN(scale, **kw), 1.0
    if name == "carn":
        return CARN(scale, mobile=False, **kw), 1.0
    if name == "carn_m":
        return CARN(scale, mobile=True, **kw), 1.0
    raise KeyError(name)


def run(model: nn.Module, pixel_range: float, x_nhwc01) -> torch.Tensor:
    """Run on an NHWC [0,1] numpy batch; returns NHWC [0,1] numpy (float64 safe)."""
    x = torch.from_numpy(x_nhwc01).permute(0, 3, 1, 2).float() * pixel_range
    with torch.no_grad():
        y = model.eval()(x) / pixel_range
    return y.permute(0, 2, 3, 1).numpy()
