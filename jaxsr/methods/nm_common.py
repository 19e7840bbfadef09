"""Config, checks and recipe shared by the N:M methods (one-shot N:M, SR-STE).

`config.nm`: `n`, `m` (N:M along input channels, `jaxsr.sparsity.nm`), `rules` (which kernels;
default: `jaxsr.sparsity.selection.NM_RULES`, the SLS convention), `layer_n` (per-layer N:
`(regex, n)` pairs, first match wins), `pretrain_steps` (> 0: a dense `pretrain` stage first,
then the N:M stage `finetune` starting from its final model; 0: one stage from
`config.init_from` or the seeded init).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import ml_collections
from flax import traverse_util

from jaxsr import model_dir, models
from jaxsr.methods.base import Context, Method, Stage, Start
from jaxsr.methods.spec import MethodSpec
from jaxsr.sparsity.masks import sparsity_report
from jaxsr.sparsity.selection import NM_RULES, per_layer, prunable_paths, rules_for
from jaxsr.startpoints import build_model

SECTION = "nm"


def default_config(**extra: Any) -> ml_collections.ConfigDict:
    """The N:M section; `extra`: a method's own keys with their defaults (SR-STE's decay)."""
    return ml_collections.ConfigDict(
        {"n": 2, "m": 4, "rules": (), "layer_n": (), "pretrain_steps": 0, **extra}
    )


def spec(
    name: str,
    title: str,
    paper: str,
    recipe: Callable[[Any], list[Stage]],
    check: Callable[[Any], None] | None = None,
    **extra: Any,
) -> MethodSpec:
    """The spec of an N:M method: section `nm` (+ its `extra` keys), config
    `configs/<name>.py`, exports the masked params and the masks."""
    return MethodSpec(
        name=name,
        title=title,
        paper=paper,
        config=f"configs/{name}.py",
        exports="params + masks",
        recipe=recipe,
        section=SECTION,
        defaults=partial(default_config, **extra),
        check=check or check_config,
    )


def layers(cfg: Any) -> dict[str, tuple[int, int]]:
    """'/'-joined kernel path -> (N, M) for every selected layer (checked)."""
    c = cfg.nm
    m = int(c.m)
    if m < 1:
        raise ValueError(f"nm.m={c.m} must be >= 1")
    rules = rules_for(cfg.model.name, c.get("rules"), NM_RULES, "nm.rules")
    params = models.abstract_params(build_model(cfg))
    paths = prunable_paths(params, rules)
    shapes = {"/".join(k): v.shape for k, v in _flat(params).items()}
    layer_n = []
    for r in c.get("layer_n", ()):
        if isinstance(r, str) or len(r) != 2:
            raise ValueError(f"nm.layer_n entry {r!r}: expected a (regex, n) pair")
        layer_n.append((r[0], r[1]))
    out = {}
    for p, n in per_layer(paths, c.n, layer_n).items():
        if len(shapes[p]) != 4:
            raise ValueError(f"nm.rules select {p} of shape {shapes[p]}; N:M needs a conv kernel")
        if not 1 <= int(n) <= m:
            raise ValueError(f"nm: N={n} for {p} must be in [1, M={m}]")
        out[p] = (int(n), m)
    return out


def _flat(params: Any) -> dict:
    return traverse_util.flatten_dict(params)


def check_config(cfg: Any) -> None:
    layers(cfg)
    if int(cfg.nm.pretrain_steps) < 0:
        raise ValueError(f"nm.pretrain_steps={cfg.nm.pretrain_steps} must be >= 0")


def recipe(
    cfg: Any,
    make: Callable[[Any], Method],
    pretrain_steps: int | None = None,
    report: Callable[[Context, dict], dict] | None = None,
    stage: str = "finetune",
) -> list[Stage]:
    """[N:M stage] or [dense `pretrain`, N:M stage `stage` from its final model].

    `pretrain_steps` defaults to `nm.pretrain_steps`, `report` to the sparsity report."""
    pre = int(cfg.nm.pretrain_steps) if pretrain_steps is None else pretrain_steps
    steps = int(cfg.train.steps)
    report = report or _report
    if pre == 0:
        return [Stage("", steps, lambda ctx: Start(make(cfg)), report)]

    def prune(ctx: Context) -> Start:
        params = model_dir.load_params(ctx.previous[-1] / "final_model", build_model(cfg))
        return Start(make(cfg), params)

    return [
        Stage("pretrain", pre, lambda ctx: Start(Method())),
        Stage(stage, steps, prune, report),
    ]


def _report(ctx: Context, summary: dict) -> dict:

    d = ctx.dir / "final_model"
    params = model_dir.load_params(d, build_model(ctx.cfg))
    rep = sparsity_report(params, model_dir.load_masks(d))
    ctx.log(
        f"{ctx.cfg.method}: {100 * rep['sparsity']:.2f}% of the selected weights pruned; "
        + " ".join(f"{k}={v:.3f}" for k, v in summary["final_eval"].items())
    )
    return {**rep, "eval": summary["final_eval"]}
