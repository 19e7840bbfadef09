"""Training the MSE estimators of SLS adaptive inference (SLS §3.6; our design, see below).

The config's model is `mse_estimator` (`jaxsr.models.estimator`), one light CNN per
candidate; the candidates (`config.adaptive.candidates`: jaxsr SR model dirs, and "bicubic")
are frozen and live in the method state beside the estimator params. For a batch of LR
windows (`core + 2 * context` pixels) and their HR patches, each candidate upscales the
window; the target of estimator i is log MSE(candidate i's output, HR) over the central core
(the part of a window whose output is kept at inference, `jaxsr.adaptive.tiles`), outputs
clipped to [0, 1] as the saved images are; the task loss is `train.loss` (L1 by default)
between the predicted and the target log MSEs. The export is the estimator with the
ensemble in its `info` (candidates in the given order, their MACs per window, core,
context, blend), which `jaxsr.adaptive.Ensemble.load`, `jaxsr.evaluate --beta` and
`jaxsr.upscale` read.

What the paper leaves open and is chosen here: the estimator architecture, the regression
target (log MSE, an L1 loss), the window/core sizes (32 + 2 x 8 LR pixels), and the error
measure (RGB in [0, 1]). Training always scores the centred core of a window; at inference
the windows of border cores are shifted inwards (the core sits off-centre) and the last
row/column of cores may be shorter: a small train/test mismatch.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from jaxsr import model_dir, models
from jaxsr.adaptive.ensemble import load_candidate, params_digest
from jaxsr.methods.base import Exported, Method, Stage, Start
from jaxsr.methods.spec import MethodSpec

EPS = 1e-10  # added to MSEs before the log (a constant patch reproduced exactly)


def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        {
            "candidates": (),  # jaxsr SR model dirs and/or "bicubic", any order
            "core": 32,  # LR pixels of a tile's core
            "context": 8,  # LR pixels of context on each side of the core
            "blend": 4,  # default cross-fade (LR pixels) at inference
            # > 0: a first stage `candidate` trains a dense SR model (`pretrain_model`, HR
            # patch `pretrain_hr_patch`) from scratch; "pretrain" in `candidates` names it
            "pretrain_steps": 0,
            "pretrain_model": {"name": "msrresnet", "overrides": {}},
            "pretrain_hr_patch": 96,
        }
    )


@dataclasses.dataclass(frozen=True, eq=False)
class MSEEstimatorMethod(Method):
    """Estimator params trainable; candidate params in the state, never updated."""

    name: str = "mse_estimator"
    candidates: tuple = ()  # jaxsr.adaptive.ensemble.Candidate, in config order
    scale: int = 4
    context: int = 8
    info: dict = dataclasses.field(default_factory=dict)

    def init(self, params: Any, rng: jax.Array) -> tuple[Any, dict]:
        del rng
        frozen = {f"c{i}": c.params for i, c in enumerate(self.candidates) if c.module is not None}
        return params, {"candidates": frozen}

    def task_loss(self, apply, params, state, lr, hr, loss):
        pred = apply(params, lr)  # (N, n) log MSE
        b = self.context * self.scale
        core = (slice(None), slice(b, hr.shape[1] - b), slice(b, hr.shape[2] - b))
        target = []
        for i, c in enumerate(self.candidates):
            sr = c.apply(state["candidates"].get(f"c{i}"), lr, self.scale)
            d = jnp.clip(sr, 0.0, 1.0)[core] - hr[core]
            target.append(jnp.log(jnp.mean(d * d, axis=(1, 2, 3)) + EPS))
        target = jax.lax.stop_gradient(jnp.stack(target, axis=-1))
        err = jnp.mean(jnp.abs(pred - target), axis=0)
        return loss(pred, target), {f"abs_log_err_{i}": e for i, e in enumerate(err)}

    def optimizer(self, base):
        return base

    def export(self, trainable: Any, state: dict) -> Exported:
        del state
        return Exported(trainable, info=self.info)


def _window(cfg: Any) -> int:
    a = cfg.adaptive
    return int(a.core) + 2 * int(a.context)


def check_config(cfg: Any) -> None:

    a = cfg.adaptive  # the model's kind (estimator): checked by the trainer from SPEC
    cands = list(a.candidates)
    if len(cands) < 2:
        raise ValueError(
            f"adaptive.candidates={cands}: need at least two (e.g. a model dir and 'bicubic')"
        )
    if len(set(cands)) != len(cands):
        raise ValueError(f"adaptive.candidates={cands}: a candidate is listed twice")
    n = int(dict(cfg.model.overrides).get("num_candidates", -1))
    if n != len(cands):
        raise ValueError(
            f"model.overrides.num_candidates={n} but adaptive.candidates has {len(cands)} entries"
        )
    if (
        int(a.core) < 1
        or int(a.context) < 0
        or not 0 <= int(a.blend) <= min(int(a.context), int(a.core) // 2)
    ):
        raise ValueError(
            f"adaptive: core={a.core} >= 1, context={a.context} >= 0, 0 <= blend={a.blend} <= "
            "min(context, core/2)"
        )
    want = _window(cfg) * int(cfg.model.scale)
    if int(cfg.data.hr_patch) != want:
        raise ValueError(
            f"data.hr_patch={cfg.data.hr_patch} must be (core + 2*context) * scale = {want}"
        )
    if cfg.eval.sets:
        raise ValueError(
            f"eval.sets={tuple(cfg.eval.sets)}: the estimators are not SR models; set ()"
        )
    pre = int(a.pretrain_steps)
    if pre < 0 or (pre > 0) != ("pretrain" in cands):
        raise ValueError(
            f"adaptive.pretrain_steps={pre}: 'pretrain' must be among adaptive.candidates "
            "exactly when pretrain_steps > 0"
        )
    if pre:
        pm = a.pretrain_model
        if models.spec(pm.name).kind != "sr":
            raise ValueError(f"adaptive.pretrain_model.name={pm.name!r} is not an SR model")
        models.create(pm.name, int(cfg.model.scale), **dict(pm.get("overrides", {})))
    for c in cands:
        if c in ("bicubic", "pretrain"):
            continue
        meta = model_dir.read_meta(c)  # one-line error naming the file
        if int(meta["scale"]) != int(cfg.model.scale):
            raise ValueError(
                f"adaptive.candidates: {c} is x{meta['scale']}, model.scale={cfg.model.scale}"
            )
        if models.spec(meta["model"]).kind != "sr":
            raise ValueError(f"adaptive.candidates: {c} holds {meta['model']!r}, not an SR model")


KEYS = ("model", "steps", "hr_patch")  # adaptive.pretrain_*: what the candidate stage uses


def recipe(cfg: Any) -> list[Stage]:

    a = cfg.adaptive
    scale = int(cfg.model.scale)
    pre = int(a.pretrain_steps)

    def start(ctx):
        specs = []
        for c in a.candidates:
            if c == "pretrain":
                c = ctx.previous[0] / "final_model"
            specs.append(c if c == "bicubic" else str(Path(c).absolute()))
        cands = tuple(load_candidate(s, scale, _window(cfg)) for s in specs)
        info = {
            "candidates": specs,
            "macs_per_window": [c.macs for c in cands],
            "params_sha256": [params_digest(c.params) for c in cands],
            "core": int(a.core),
            "context": int(a.context),
            "blend": int(a.blend),
        }
        return Start(
            MSEEstimatorMethod(candidates=cands, scale=scale, context=int(a.context), info=info)
        )

    if not pre:
        return [Stage("", int(cfg.train.steps), start)]

    def configure(c):
        c.model.name = a.pretrain_model.name
        c.model.overrides = dict(a.pretrain_model.get("overrides", {}))
        c.data.hr_patch = int(a.pretrain_hr_patch)
        return c

    return [
        Stage(
            "candidate",
            pre,
            lambda ctx: Start(Method()),
            configure=configure,
            uses=("method", "init_from", "seed", *(f"adaptive.pretrain_{k}" for k in KEYS)),
        ),
        Stage("estimator", int(cfg.train.steps), start),
    ]


SPEC = MethodSpec(
    name="mse_estimator",
    title="MSE estimators of SLS adaptive inference (one per candidate model)",
    paper="sls_cvpr2022.md (Sec. 3.6)",
    config="configs/adaptive.py",
    exports="the estimator + the ensemble (info)",
    recipe=recipe,
    section="adaptive",
    defaults=default_config,
    check=check_config,
    model_kind="estimator",
)
