"""SR models and their registry: `create("rfdn", scale=4)`.

Every model is a Flax linen module mapping NHWC RGB in [0, 1] to NHWC RGB in [0, 1] at
`scale` times the size. Models know nothing about pruning; params are a plain pytree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import traverse_util

from jaxsr.models.carn import CARN
from jaxsr.models.edsr import EDSR
from jaxsr.models.esrb import ESRB
from jaxsr.models.estimator import MSEEstimator
from jaxsr.models.imdn import IMDN
from jaxsr.models.layers import Widths, as_widths
from jaxsr.models.msrresnet import MSRResNet
from jaxsr.models.rfdn import RFDN


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A registry entry: how to build a model and what its published form looks like."""

    name: str
    cls: type[nn.Module]
    scales: tuple[int, ...]
    defaults: dict[str, Any]
    description: str
    kind: str = "sr"  # "sr": LR image -> SR image; "estimator": LR tiles -> MSE estimates


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec, *aliases: str) -> None:
    for key in (spec.name, *aliases):
        _REGISTRY[key] = spec


register(ModelSpec("msrresnet", MSRResNet, (2, 3, 4), {}, "BasicSR MSRResNet (16x64)"), "srresnet")
register(ModelSpec("rfdn", RFDN, (2, 3, 4), {}, "RFDN, AIM 2020 config (nf=50, 4 RFDB)"))
register(ModelSpec("imdn", IMDN, (2, 3, 4), {}, "IMDN official (nf=64, 6 IMDB, CCA)"))
register(ModelSpec("carn", CARN, (2, 3, 4), {"mobile": False}, "CARN (64 ch, 3 cascades)"))
register(
    ModelSpec("carn_m", CARN, (2, 3, 4), {"mobile": True, "groups": 4}, "CARN-M (group conv 4)"),
    "carn-m",
)
register(
    ModelSpec("edsr_baseline", EDSR, (2, 3, 4), {}, "EDSR-baseline (16 blocks x 64)"),
    "edsr",
)
register(
    ModelSpec(
        "edsr_8_128",
        EDSR,
        (2, 3, 4),
        {"num_block": 8, "num_feat": 128},
        "EDSR-baseline with 8 blocks x 128 features (FMP's Table 3 backbone)",
    ),
    "edsr-8-128",
)
register(
    ModelSpec("esrb", ESRB, (2, 3, 4), {}, "ESRB-6-256, FMP's baseline (a reconstruction)"),
    "esrb-6-256",
)
register(
    ModelSpec(
        "mse_estimator",
        MSEEstimator,
        (2, 3, 4),
        {},
        "SLS adaptive inference: one light CNN per candidate predicting its tile log-MSE",
        kind="estimator",
    )
)


def names(kind: str | None = "sr") -> list[str]:
    """Canonical model names of one kind ("sr": the SR models; None: every entry)."""
    return sorted({s.name for s in _REGISTRY.values() if kind is None or s.kind == kind})


def spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name.lower()]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(names(None))}") from None


def create(name: str, scale: int = 4, **overrides: Any) -> nn.Module:
    """Build a model by registry name, scale and field overrides (e.g. `num_feat=32`)."""
    s = spec(name)
    if scale not in s.scales:
        raise ValueError(f"model {s.name!r} supports scales {s.scales}, got {scale}")
    fields = {f.name for f in dataclasses.fields(s.cls)} - {"parent", "name"}
    unknown = set(overrides) - fields
    if unknown:
        raise ValueError(
            f"model {s.name!r} has no field(s) {sorted(unknown)}; fields: {sorted(fields)}"
        )
    kwargs = {**s.defaults, **overrides, "scale": scale}
    if "widths" in kwargs:
        kwargs["widths"] = as_widths(kwargs["widths"])
    model = s.cls(**kwargs)
    if kwargs.get("widths"):
        _check_widths(s.name, model)
    return model


def _check_widths(name: str, model: nn.Module) -> None:
    """Reject width overrides that name no conv or give mismatched channels, before compute."""
    try:
        shapes = abstract_params(model, lr_size=32)
    except Exception as e:  # a residual add / concat with mismatched widths fails the trace
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"model {name!r}: widths give inconsistent channels ({msg})") from None
    convs = {"/".join(k[:-1]) for k in traverse_util.flatten_dict(shapes) if k[-1] == "kernel"}
    unknown = sorted(k for k, _ in model.widths if k not in convs)
    if unknown:
        raise ValueError(f"model {name!r}: widths name no conv: {unknown} (e.g. {min(convs)!r})")


def init_params(model: nn.Module, rng: jax.Array | int = 0, lr_size: int = 16) -> dict:
    """Initialise params with a small dummy LR input (params do not depend on its size)."""
    if isinstance(rng, int):
        rng = jax.random.key(rng)
    x = jnp.zeros((1, lr_size, lr_size, 3), jnp.float32)
    return model.init(rng, x)["params"]


def abstract_params(model: nn.Module, lr_size: int = 16) -> dict:
    """Param shapes/dtypes (`jax.ShapeDtypeStruct`) without allocating or computing anything."""
    return jax.eval_shape(lambda: init_params(model, 0, lr_size))


def num_params(params: Any) -> int:
    return int(sum(x.size for x in jax.tree.leaves(params)))


Apply = Callable[[dict, jax.Array], jax.Array]

__all__ = [
    "CARN",
    "EDSR",
    "ESRB",
    "IMDN",
    "MSEEstimator",
    "MSRResNet",
    "RFDN",
    "ModelSpec",
    "Widths",
    "as_widths",
    "abstract_params",
    "create",
    "init_params",
    "names",
    "num_params",
    "spec",
]


def check_builds(model_cfg: Any, scale: int, where: str) -> None:
    """The model of a config section (`name`, `overrides`) is created and its params traced
    (shapes only, no compute): a bad override fails here, before any stage trains."""

    overrides = dict(model_cfg.get("overrides", {}))
    model = create(model_cfg.name, scale, **overrides)
    try:
        abstract_params(model)
    except Exception as e:  # noqa: BLE001 - any failure of the model's own code
        msg = " ".join(str(e).split()) or "no message"
        raise ValueError(
            f"{where}: {model_cfg.name} with overrides {overrides} cannot be built "
            f"({type(e).__name__}: {msg})"
        ) from None
