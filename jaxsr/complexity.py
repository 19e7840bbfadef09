"""Parameters and per-conv multiply-accumulates (MACs) of any registry model.

The pruning papers count conv MACs for an output image of 1280x720 (LR input 1280/s x 720/s,
floored), ignoring biases, activations, pooling and pixel shuffles. Convs are found by
intercepting every `Conv2d` call during an abstract (`jax.eval_shape`) forward pass, so
nothing is computed and a conv whose weights are shared by several calls (CARN-M) is counted
once per call for MACs but once for params.

    python -m jaxsr.complexity --model=edsr_baseline --scale=4
    python -m jaxsr.complexity --weights=workdirs/nm_rfdn/final_model   # a (pruned) model dir

For a model directory the counts are of **non-zero** weights: a conv call costs
H_out·W_out·nnz(kernel) MACs (each non-zero weight is one multiply-accumulate per output
position), so masks, N:M patterns and removed weights are all taken into account; `masks.npz`
(if saved) gives the N:M pattern column. Biases count as params, not MACs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxsr import cli, model_dir, models
from jaxsr.models.layers import Conv2d
from jaxsr.sparsity.nm import group_view

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


def conv_costs(model: nn.Module, lr_shape: tuple[int, int]) -> dict[str, int]:
    """Dense MACs per conv kernel ('/'-joined param path of the kernel), summed over calls:
    the C_l of a layer in the SLS budget (`jaxsr.sparsity.budget`)."""
    out: dict[str, int] = {}
    for c in trace_convs(model, lr_shape):
        key = f"{c.path}/kernel"
        out[key] = out.get(key, 0) + c.macs
    return out


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


@dataclasses.dataclass(frozen=True)
class LayerCount:
    path: str
    calls: int  # how many times the conv runs (weights shared: CARN-M)
    size: int  # kernel weights
    nonzero: int  # non-zero kernel weights
    dense_macs: int
    macs: int  # sum over calls of H_out * W_out * nonzero
    pattern: str  # e.g. "2:4" when every group of M input channels keeps <= N ("" otherwise)


@dataclasses.dataclass(frozen=True)
class PrunedReport:
    model: str
    scale: int
    lr_shape: tuple[int, int]
    params: int
    nonzero_params: int
    dense_macs: int
    macs: int
    layers: list[LayerCount]

    def table(self) -> str:
        rows = [
            f"{self.model} x{self.scale}: {self.nonzero_params:,} non-zero of {self.params:,} "
            f"params; {self.macs / 1e9:.2f} GMACs of {self.dense_macs / 1e9:.2f} dense, for LR "
            f"{self.lr_shape[1]}x{self.lr_shape[0]}",
            f"{'conv':<28}{'calls':>6}{'weights':>10}{'non-zero':>10}{'density':>9}"
            f"{'N:M':>7}{'MACs (M)':>11}{'dense (M)':>11}",
        ]
        for c in self.layers:
            rows.append(
                f"{c.path:<28}{c.calls:>6}{c.size:>10}{c.nonzero:>10}"
                f"{c.nonzero / max(c.size, 1):>9.3f}{c.pattern:>7}"
                f"{c.macs / 1e6:>11.1f}{c.dense_macs / 1e6:>11.1f}"
            )
        return "\n".join(rows)


def _nm_pattern(mask: np.ndarray) -> str:
    """The tightest "N:M" (smallest N/M, then smallest M; M in 4, 8, 16, 32) that every group
    of M input channels satisfies, M up to the input channels; "" if none is below 1."""

    if mask.ndim != 4:
        return ""
    best, ratio = "", 1.0
    for m in (4, 8, 16, 32):
        if m > mask.shape[2]:  # a zero-padded group would look sparser than it is
            break
        n = int(np.asarray(jnp.sum(group_view(jnp.asarray(mask), m), axis=3)).max())
        if n / m < ratio:
            best, ratio = f"{n}:{m}", n / m
    return best


def pruned_report(directory: Any, lr_shape: tuple[int, int] | None = None) -> PrunedReport:
    """Non-zero params and MACs of a model directory (masked / N:M / pruned weights)."""
    from flax import traverse_util

    module, params, meta = model_dir.load_model(directory)
    masks = model_dir.load_masks(directory)
    flat = {k: np.asarray(v) for k, v in traverse_util.flatten_dict(params, sep="/").items()}
    fmask = {}
    if masks is not None:
        fmask = {k: np.asarray(v) for k, v in traverse_util.flatten_dict(masks, sep="/").items()}
    lr_shape = lr_shape or hd_lr_shape(int(meta["scale"]))
    calls: dict[str, list[ConvCall]] = {}
    for c in trace_convs(module, lr_shape):
        calls.setdefault(f"{c.path}/kernel", []).append(c)
    layers: dict[str, LayerCount] = {}
    for key, cs in calls.items():
        w = flat[key]
        positions = sum(c.out_shape[1] * c.out_shape[2] for c in cs)
        nnz = int(np.count_nonzero(w))
        pattern = _nm_pattern(fmask[key]) if key in fmask else ""
        layers[key] = LayerCount(
            cs[0].path, len(cs), int(w.size), nnz, positions * int(w.size), positions * nnz, pattern
        )
    total = sum(int(v.size) for v in flat.values())
    nonzero = sum(int(np.count_nonzero(v)) for v in flat.values())
    lst = list(layers.values())
    return PrunedReport(
        meta["model"],
        int(meta["scale"]),
        lr_shape,
        total,
        nonzero,
        sum(c.dense_macs for c in lst),
        sum(c.macs for c in lst),
        lst,
    )


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


def main() -> None:
    from absl import flags

    f = flags.FLAGS
    with cli.checking():
        if bool(f.model) == bool(f.weights):
            raise ValueError("give --model (a registry name) or --weights (a model directory)")
        if f.model:
            models.spec(f.model)
        elif not Path(f.weights).is_dir():
            raise FileNotFoundError(f"--weights={f.weights}: no such model directory")
        shape = None
        if f.lr_shape:
            parts = f.lr_shape.lower().split("x")
            if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
                raise ValueError(f"--lr_shape={f.lr_shape!r}: expected HxW, e.g. 180x320")
            shape = (int(parts[0]), int(parts[1]))
        if f.scale <= 0:
            raise ValueError(f"--scale={f.scale} must be > 0")
    if f.weights:
        print(pruned_report(f.weights, shape).table())
    else:
        print(report(f.model, f.scale, shape).table())


def run() -> None:
    from absl import flags

    flags.DEFINE_string("model", None, "registry name (dense counts)")
    flags.DEFINE_string("weights", None, "model directory (non-zero counts: masks, N:M)")
    flags.DEFINE_integer("scale", 4, "upscaling factor")
    flags.DEFINE_string("lr_shape", None, "LR HxW, default: 1280x720 output")
    cli.main(main)


if __name__ == "__main__":
    run()
