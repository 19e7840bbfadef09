"""Parameters and per-conv multiply-accumulates (MACs) of any registry model.

The pruning papers count conv MACs for an output image of 1280x720 (LR input 1280/s x 720/s,
floored), ignoring biases, activations, pooling and pixel shuffles. Convs are found by
intercepting every `Conv2d` call during an abstract (`jax.eval_shape`) forward pass, so
nothing is computed and a conv whose weights are shared by several calls (CARN-M) is counted
once per call for MACs but once for params.

    python -m jaxsr.complexity --model=edsr_baseline --scale=4
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxsr import models
from jaxsr.models.layers import Conv2d

HD_OUTPUT = (720, 1280)  # (H, W) of the output image in the papers' convention


@dataclasses.dataclass(frozen=True)
class ConvCall:
    path: str  # '/'-joined module path, e.g. "body_0/conv1"
    kernel: tuple[int, int, int, int]  # HWIO
    groups: int
    in_shape: tuple[int, ...]  # NHWC
    out_shape: tuple[int, ...]

    @property
    def macs(self) -> int:
        kh, kw, cin_g, cout = self.kernel
        _, h, w, _ = self.out_shape
        return h * w * cout * kh * kw * cin_g

    @property
    def params(self) -> int:
        kh, kw, cin_g, cout = self.kernel
        return kh * kw * cin_g * cout + cout


def trace_convs(model: nn.Module, lr_shape: tuple[int, int]) -> list[ConvCall]:
    """Every conv call of `model` on a 1 x H x W x 3 input, in call order."""
    calls: list[ConvCall] = []

    def interceptor(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        mod = context.module
        if isinstance(mod, Conv2d) and context.method_name == "__call__":
            x = args[0]
            k = mod.kernel_size
            kernel = (k, k, x.shape[-1] // mod.groups, mod.features)
            calls.append(
                ConvCall("/".join(mod.path), kernel, mod.groups, tuple(x.shape), tuple(out.shape))
            )
        return out

    def fwd():
        x = jnp.zeros((1, *lr_shape, 3), jnp.float32)
        with nn.intercept_methods(interceptor):
            variables = model.init(jax.random.key(0), x)
            calls.clear()  # init traced once; keep only the apply pass
            return model.apply(variables, x)

    jax.eval_shape(fwd)
    return calls


def hd_lr_shape(scale: int) -> tuple[int, int]:
    return HD_OUTPUT[0] // scale, HD_OUTPUT[1] // scale


@dataclasses.dataclass(frozen=True)
class Report:
    model: str
    scale: int
    lr_shape: tuple[int, int]
    params: int
    macs: int
    convs: list[ConvCall]

    def table(self) -> str:
        rows = [
            f"{self.model} x{self.scale}: {self.params:,} params, "
            f"{self.macs / 1e9:.2f} GMACs for LR {self.lr_shape[1]}x{self.lr_shape[0]}",
            f"{'conv':<28}{'kernel (HWIO)':>20}{'groups':>7}{'out HxW':>12}{'MACs (M)':>12}",
        ]
        for c in self.convs:
            k = "x".join(map(str, c.kernel))
            hw = f"{c.out_shape[1]}x{c.out_shape[2]}"
            rows.append(f"{c.path:<28}{k:>20}{c.groups:>7}{hw:>12}{c.macs / 1e6:>12.1f}")
        return "\n".join(rows)


def report(
    model_name: str, scale: int, lr_shape: tuple[int, int] | None = None, **overrides: Any
) -> Report:
    """Params and conv MACs; `lr_shape` defaults to the 1280x720-output convention."""
    model = models.create(model_name, scale, **overrides)
    lr_shape = lr_shape or hd_lr_shape(scale)
    convs = trace_convs(model, lr_shape)
    params = models.num_params(models.abstract_params(model))
    return Report(
        models.spec(model_name).name, scale, lr_shape, params, sum(c.macs for c in convs), convs
    )


def main(argv: list[str]) -> None:
    from absl import flags

    from jaxsr.cli import fail

    f = flags.FLAGS
    if len(argv) > 1:
        fail(f"unexpected arguments: {argv[1:]}", code=2)
    try:
        models.spec(f.model)
        shape = None
        if f.lr_shape:
            parts = f.lr_shape.lower().split("x")
            if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
                raise ValueError(f"--lr_shape={f.lr_shape!r}: expected HxW, e.g. 180x320")
            shape = (int(parts[0]), int(parts[1]))
        if f.scale <= 0:
            raise ValueError(f"--scale={f.scale} must be > 0")
    except Exception as e:
        fail(e, code=2)
    try:
        print(report(f.model, f.scale, shape).table())
    except Exception as e:
        fail(e)


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_string("model", None, "registry name", required=True)
    flags.DEFINE_integer("scale", 4, "upscaling factor")
    flags.DEFINE_string("lr_shape", None, "LR HxW, default: 1280x720 output")
    app.run(main)
