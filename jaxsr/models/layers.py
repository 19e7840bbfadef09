"""Building blocks shared by the SR models (NHWC, PyTorch semantics where it matters)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Initializer = Callable[..., jax.Array]

# Per-conv output widths: ((conv module path, channels), ...), sorted and hashable. A value is an
# int, or a tuple of segment widths for a conv whose output the model slices (IMDN's
# distillation split); the conv's channel count is then their sum.
Widths = tuple[tuple[str, int | tuple[int, ...]], ...]


def as_widths(widths: Mapping[str, Any] | Any) -> Widths:
    """Normalise a `{conv path: channels}` mapping (or pairs, or ()) to `Widths`."""
    if not widths:
        return ()
    items = widths.items() if hasattr(widths, "items") else widths
    out = []
    for key, value in items:
        v = tuple(int(x) for x in value) if isinstance(value, list | tuple) else int(value)
        if min(v if isinstance(v, tuple) else (v,)) < 1:
            raise ValueError(f"widths[{key!r}] = {value!r}: channel counts must be >= 1")
        out.append((str(key), v))
    return tuple(sorted(out))


def width_of(module: nn.Module, name: str, default: Any) -> Any:
    """The width override of `module`'s child conv `name` (by param path), else `default`.

    `module` must have a `widths: Widths` field holding the root model's overrides."""
    key = "/".join((*module.path, name))
    for k, v in module.widths:
        if k == key:
            return v
    return default


def conv(module: nn.Module, name: str, features: int, kernel_size: int, **kw: Any) -> Conv2d:
    """`Conv2d(features, kernel_size, name=name, **kw)` unless `module.widths` overrides it."""
    w = width_of(module, name, features)
    return Conv2d(sum(w) if isinstance(w, tuple) else w, kernel_size, name=name, **kw)


def fan_in_init(scale: float, distribution: str) -> Initializer:
    """`flax.linen.initializers.variance_scaling(scale, "fan_in", distribution)` for HWIO
    conv kernels (`distribution` "uniform" or "normal"), the same values bit for bit, drawn
    as one flat vector and reshaped: XLA:CPU compiles a rank-4 threefry draw in 1-10 s and a
    rank-1 one in ~0.2 s (BENCHMARKS.md, "Compilation: random init"), and partitionable
    threefry (JAX's default) numbers the elements in row-major order, so the bits are the
    same (tests/test_layers.py checks it against flax)."""
    if distribution not in ("uniform", "normal"):
        raise ValueError(f"distribution={distribution!r}; known: uniform, normal")

    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        shape = tuple(int(d) for d in shape)
        variance = jnp.array(scale / math.prod(shape[:-1]), dtype=dtype)  # fan_in = H W I
        flat = (math.prod(shape),)
        if distribution == "normal":
            return jax.random.normal(key, flat, dtype).reshape(shape) * jnp.sqrt(variance)
        return jax.random.uniform(key, flat, dtype, -1).reshape(shape) * jnp.sqrt(3 * variance)

    return init


def torch_default_kernel_init() -> Initializer:
    """PyTorch's default Conv2d init: kaiming_uniform(a=sqrt(5)) == U(-1/sqrt(fan_in), +)."""
    return fan_in_init(1.0 / 3.0, "uniform")


def kaiming_normal_scaled(scale: float = 0.1) -> Initializer:
    """BasicSR `default_init_weights`: untruncated Kaiming normal (fan_in, gain sqrt 2) x scale."""
    return fan_in_init(2.0 * scale * scale, "normal")


def _param(module: nn.Module, name: str, init: Initializer, shape: tuple[int, ...]) -> jax.Array:
    """`module.param(name, init, shape, float32)` without Flax's apply-time shape check, which
    traces the initializer under `eval_shape` for every param on every trace (~60% of tracing
    a model; BENCHMARKS.md, "Compilation"); the shape is checked here directly instead."""
    if module.has_variable("params", name):
        value = module.get_variable("params", name)
        if np.shape(value) != shape:
            raise ValueError(
                f"param {'/'.join(module.scope.path)}/{name}: shape {np.shape(value)}, "
                f"the module expects {shape}"
            )
        return value
    return module.param(name, init, shape, jnp.float32)


class Conv2d(nn.Module):
    """A conv with PyTorch's arguments: explicit symmetric padding, groups, bias.

    Params are `kernel` (HWIO, I = in_channels / groups) and `bias`, like `flax.linen.Conv`.
    """

    features: int
    kernel_size: int = 3
    stride: int = 1
    padding: int | None = None  # None: (k - 1) // 2, i.e. 'same' for odd kernels at stride 1
    groups: int = 1
    use_bias: bool = True
    kernel_init: Initializer | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k, pad = self.kernel_size, self.padding
        pad = (k - 1) // 2 if pad is None else pad
        cin = x.shape[-1]
        if cin % self.groups or self.features % self.groups:
            raise ValueError(
                f"channels {cin}->{self.features} not divisible by groups={self.groups}"
            )
        init = self.kernel_init or torch_default_kernel_init()
        kernel = _param(self, "kernel", init, (k, k, cin // self.groups, self.features))
        y = conv_nhwc(x, kernel.astype(x.dtype), self.stride, pad, self.groups)
        if self.use_bias:
            fan_in = (cin // self.groups) * k * k
            bound = 1.0 / np.sqrt(fan_in)
            bias_init = (
                nn.initializers.zeros
                if self.kernel_init is not None
                else lambda key, shape, dtype: jax.random.uniform(key, shape, dtype, -bound, bound)
            )
            bias = _param(self, "bias", bias_init, (self.features,))
            y = y + bias.astype(x.dtype)
        return y


def _conv(x: jax.Array, kernel: jax.Array, stride: int, pad: int, groups: int = 1) -> jax.Array:
    return jax.lax.conv_general_dilated(
        x,
        kernel,
        window_strides=(stride, stride),
        padding=((pad, pad), (pad, pad)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=groups,
    )


_SPLIT_GROUPED = [True]


@contextlib.contextmanager
def plain_grouped_convs() -> Iterator[None]:
    """Within this context `conv_nhwc` emits grouped convs as one XLA conv on every backend
    (the channel tracer of `jaxsr.channels` reads `feature_group_count`)."""
    _SPLIT_GROUPED.append(False)
    try:
        yield
    finally:
        _SPLIT_GROUPED.pop()


def conv_nhwc(x: jax.Array, kernel: jax.Array, stride: int, pad: int, groups: int) -> jax.Array:
    """NHWC x HWIO convolution with symmetric zero padding and channel groups.

    On CPU a grouped conv is computed as one conv per group: XLA:CPU's `feature_group_count`
    path ran 1.6-2.7x slower forward and 12-49x slower backward than the split (e.g. CARN-M's
    3x3 g=4 conv at 160x240x64: 19 vs 12 ms forward, 1205 vs 103 ms gradient). Results are the
    same up to float32 summation order. Elsewhere the plain XLA conv is used. (The other CPU
    slow path, YNNPACK's backward convolutions, is switched off by `jaxsr.xla_cpu`.)
    """
    if groups == 1 or jax.default_backend() != "cpu" or not _SPLIT_GROUPED[-1]:
        return _conv(x, kernel, stride, pad, groups)
    xs = jnp.split(x, groups, axis=-1)
    ks = jnp.split(kernel, groups, axis=-1)
    return jnp.concatenate([_conv(a, b, stride, pad) for a, b in zip(xs, ks, strict=True)], -1)


def pixel_shuffle(x: jax.Array, r: int) -> jax.Array:
    """`torch.nn.PixelShuffle(r)` in NHWC: channel c*r*r + i*r + j goes to sub-pixel (i, j)."""
    n, h, w, c = x.shape
    if c % (r * r):
        raise ValueError(f"pixel_shuffle: {c} channels not divisible by r^2={r * r}")
    co = c // (r * r)
    x = x.reshape(n, h, w, co, r, r)
    x = x.transpose(0, 1, 4, 2, 5, 3)
    return x.reshape(n, h * r, w * r, co)


def _linear_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices/weights of PyTorch's bilinear resize (align_corners=False) along one axis."""
    scale = in_size / out_size
    src = (np.arange(out_size, dtype=np.float64) + 0.5) * scale - 0.5
    src = np.maximum(src, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    w1 = (src - i0).astype(np.float32)
    return i0, i1, w1


def resize_bilinear_torch(x: jax.Array, size: tuple[int, int]) -> jax.Array:
    """`F.interpolate(x, size, mode='bilinear', align_corners=False)` for NHWC arrays.

    Index tables are computed on the host at trace time (shapes are static), so the jitted
    graph is two gathers and two lerps.
    """
    _, h, w, _ = x.shape
    oh, ow = size
    i0, i1, wy = _linear_taps(h, oh)
    x = x[:, i0] * (1.0 - wy)[None, :, None, None] + x[:, i1] * wy[None, :, None, None]
    j0, j1, wx = _linear_taps(w, ow)
    return x[:, :, j0] * (1.0 - wx)[None, None, :, None] + x[:, :, j1] * wx[None, None, :, None]


def lrelu(slope: float) -> Callable[[jax.Array], jax.Array]:
    return lambda x: nn.leaky_relu(x, negative_slope=slope)


def mean_shift(x: jax.Array, mean: tuple[float, float, float], sign: float) -> jax.Array:
    """The fixed 1x1 `MeanShift` conv of EDSR/CARN (identity weight, bias = sign * mean)."""
    return x + sign * jnp.asarray(mean, x.dtype)


ESA_MIN_INPUT = 15  # conv 3x3 stride 2 unpadded, then max-pool 7 stride 3: one output pixel


def check_esa_input(x: jax.Array, model: str) -> None:
    """ESA (RFDN, ESRB) needs a spatial input of at least 15x15: say so instead of failing
    in a gather."""
    h, w = x.shape[1:3]
    if min(h, w) < ESA_MIN_INPUT:
        raise ValueError(
            f"{model}: input {h}x{w} is too small for its ESA attention (needs >= "
            f"{ESA_MIN_INPUT}x{ESA_MIN_INPUT}: an LR patch, i.e. data.hr_patch >= 15 x scale)"
        )
