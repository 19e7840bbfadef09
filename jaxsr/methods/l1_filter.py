"""L1-norm filter pruning (the SLS paper's structured baseline): smaller model, then fine-tune.

Recipe: [dense `pretrain` stage if `l1.pretrain_steps` > 0] then `finetune`. At the start of
`finetune` the source params (the pretrain stage's final model, else `config.init_from`, else
the seeded init) are pruned channel-wise (`jaxsr.channels.l1`):

1. channel groups are traced from the model (`jaxsr.channels.trace`); `l1.rules` (regex over
   group names) pick the prunable ones; sub-pixel (upsampler) groups only with `l1.upsampler`;
   the channels a conv writes into the image are never pruned nor masked;
2. `l1.scheme="li"` (default, Li et al. 2017): filters are ranked by their L1 norm within
   their layer and only groups produced by one conv are pruned (a residual trunk, tied
   across convs by additions, stays dense: Li et al. prune the first conv of each residual
   block); "joint": tied groups too, ranked by the L1 summed over their producing convs;
3. every pruned group keeps the same fraction of its units (at least `l1.min_channels`):
   `l1.fraction` if > 0, else the largest fraction whose model costs <= `l1.target` x the
   dense model's MACs (1280x720 output);
4. surgery: the kept slices form an ordinary registry model with per-conv `widths`.

The plan is written to `channels.json` in the stage's workdir (scheme, fraction, kept units
per group, widths, MACs, params) and reused when a killed run resumes. The exported model is
the smaller registry model: `jaxsr.evaluate` loads it as is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from jaxsr import files, model_dir, models, startpoints
from jaxsr.channels import l1, surgery, trace
from jaxsr.channels.group_rules import select_groups
from jaxsr.methods.base import Context, Method, Stage, Start
from jaxsr.methods.spec import MethodSpec
from jaxsr.startpoints import build_model, model_overrides

PLAN = "channels.json"


def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        {
            "target": 0.5,  # kept fraction of the dense MACs (1280x720), when fraction = 0
            "fraction": 0.0,  # > 0: keep this fraction of every pruned group (target unused)
            "scheme": "li",  # "li" (Li et al.: per layer, trunks dense) or "joint"
            "rules": (),
            "upsampler": False,
            "min_channels": 4,
            "pretrain_steps": 0,
        }
    )


def check_config(cfg: Any) -> None:
    c = cfg.l1  # its keys: `jaxsr.methods.spec.check_section`
    if not 0.0 < float(c.target) <= 1.0:
        raise ValueError(f"l1.target={c.target} must be in (0, 1] (a fraction of dense MACs)")
    if not 0.0 <= float(c.fraction) <= 1.0:
        raise ValueError(f"l1.fraction={c.fraction} must be in [0, 1] (0: fit to l1.target)")
    if c.scheme not in l1.SCHEMES:
        raise ValueError(f"l1.scheme={c.scheme!r}; known: {', '.join(l1.SCHEMES)}")
    if int(c.min_channels) < 1:
        raise ValueError(f"l1.min_channels={c.min_channels} must be >= 1")
    if int(c.pretrain_steps) < 0:
        raise ValueError(f"l1.pretrain_steps={c.pretrain_steps} must be >= 0")
    model = build_model(cfg)
    graph = trace(model)
    l1.scheme_groups(graph, select_groups(graph, list(c.rules), bool(c.upsampler)), c.scheme)
    # whether the target / fraction fits min_channels depends on shapes only: plan zeros now,
    # before a pretrain stage trains (the real plan ranks the trained filters)
    zeros = jax.tree.map(lambda x: np.zeros(x.shape, x.dtype), models.abstract_params(model))
    try:
        plan(cfg, zeros)
    except ValueError as e:
        raise ValueError(
            f"l1.target={c.target}, l1.fraction={c.fraction}, l1.min_channels={c.min_channels}: {e}"
        ) from None


def plan(cfg: Any, params: Any) -> dict:
    """The pruning of `params` under `config.l1` (JSON-able; see the module docstring)."""
    c = cfg.l1
    return l1.plan(
        build_model(cfg),
        params,
        int(cfg.model.scale),
        float(c.target),
        list(c.rules),
        bool(c.upsampler),
        int(c.min_channels),
        str(c.scheme),
        float(c.fraction),
    )


def apply_plan(cfg: Any, params: Any, p: dict) -> tuple[Any, dict]:
    """(pruned params, model overrides) of a plan."""
    if p.get("filters"):
        raise ValueError(
            "channels.json masks image-channel filters (made by an older jaxsr); "
            "start a new --workdir"
        )
    pruned = surgery.prune_params(params, trace(build_model(cfg)), l1.keep_from_plan(p))
    overrides = model_overrides(cfg)
    widths = {**dict(overrides.get("widths", {})), **p["widths"]}
    return pruned, {**overrides, "widths": widths}


def _source_params(ctx: Context) -> Any:
    cfg, model = ctx.cfg, build_model(ctx.cfg)
    if ctx.previous:
        return model_dir.load_params(ctx.previous[-1] / "final_model", model)
    params = startpoints.initial_params(cfg, model)
    if params is None:
        ctx.log("l1_filter: no init_from and no pretrain stage: pruning the seeded init")
        params = startpoints.seeded_params(cfg, model)
    return jax.device_get(params)


def _write_json(path: Path, value: dict) -> None:
    files.write_text_atomic(path, json.dumps(value, indent=1) + "\n")


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def _start(ctx: Context) -> Start:
    params = _source_params(ctx)

    def compute() -> dict:
        p = plan(ctx.cfg, params)
        ctx.log(
            f"l1_filter ({p['scheme']}): keep {100 * p['fraction']:.1f}% of the units of "
            f"{len(p['keep'])} "
            f"channel groups: {p['macs'] / 1e9:.2f} of {p['dense_macs'] / 1e9:.2f} GMACs "
            f"(target {p['target_macs'] / 1e9:.2f}), {p['params']:,} of "
            f"{p['dense_params']:,} params"
        )
        return p

    p = startpoints.once(ctx.dir / PLAN, compute, _write_json, _read_json)
    pruned, overrides = apply_plan(ctx.cfg, params, p)
    return Start(Method("l1_filter"), pruned, overrides=overrides)


def _report(ctx: Context, summary: dict) -> dict:
    p = json.loads((ctx.dir / PLAN).read_text())
    d = ctx.dir / "final_model"
    model, params, meta = model_dir.load_model(d)
    del model, params
    out = {
        "scheme": p.get("scheme", "joint"),
        "fraction": p["fraction"],
        "gmacs": p["macs"] / 1e9,
        "dense_gmacs": p["dense_macs"] / 1e9,
        "macs_ratio": p["dense_macs"] / p["macs"],
        "params": p["params"],
        "dense_params": p["dense_params"],
        "widths": meta["overrides"].get("widths", {}),
        "eval": summary["final_eval"],
    }
    ctx.log(
        f"l1_filter: {out['gmacs']:.2f} of {out['dense_gmacs']:.2f} GMACs "
        f"({out['macs_ratio']:.2f}x fewer), {out['params']:,} params; "
        + " ".join(f"{k}={v:.3f}" for k, v in summary["final_eval"].items())
    )
    return out


def recipe(cfg: Any) -> list[Stage]:
    pre, steps = int(cfg.l1.pretrain_steps), int(cfg.train.steps)
    # the dense pretrain depends on the model, init and seed, not on how it is pruned later
    uses = ("method", "model", "init_from", "seed", "l1.pretrain_steps")
    stages = [Stage("pretrain", pre, lambda ctx: Start(Method()), uses=uses)] if pre else []
    return [*stages, Stage("finetune", steps, _start, _report)]


def load_plan(directory: str | Path) -> dict:
    return json.loads((Path(directory) / PLAN).read_text())


SPEC = MethodSpec(
    name="l1_filter",
    title="L1-norm filter pruning (Li et al. 2017), then fine-tuning",
    paper="sls_cvpr2022.md (structured baseline)",
    config="configs/l1_filter.py",
    exports="a smaller model (per-conv widths)",
    recipe=recipe,
    section="l1",
    defaults=default_config,
    check=check_config,
)
