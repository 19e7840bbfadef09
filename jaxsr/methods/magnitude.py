"""UPru / DUPru: iterative magnitude pruning with rewinding (paper Algorithm 1), as T stages.

Stage `round_01` trains the unpruned network from the rewind point; every later round t
computes new masks from round t-1's final weights (p-th percentile of the surviving non-zero
|w|, per layer or global), resets the weights to `rewind (.) mask`, starts a fresh optimizer
and trains `config.train.steps` steps. The rewind point is W0 (the initial weights, or an
imported checkpoint; `pruning.rewind_step=0`) or W_k, the weights after k steps of round 1
(late rewinding: the lr schedule and data order then continue from step k). Rewind points are
saved once in `WORKDIR/init/` and `WORKDIR/rewind/` (their own directories, so checkpoint
rotation never touches them).

The method keeps pruned weights at exactly 0 with `keep_masked` last in the optax chain.
DUPru's freeze of the weights with |w| < EPS (`pruning.freeze`, `FREEZES`):
- "grad" (default; the paper's eq. 4 and Algorithm 1 line 8, literally): their gradient is
  set to 0 before Adam (`zero_grads_below`). Adam's first moment still carries what it
  gathered before, so such a weight keeps moving (decaying by b1 per step) until its moment
  fades; it gets no new gradient;
- "update": their final update is 0 (`freeze_below`, after Adam and the lr), so nothing
  moves them: the paper's wording ("it will keep the current value ... and will not be
  updated"), jaxsr's default before;
- "both": the gradient and the final update (clean moments, and frozen).

Workdir layout: `init/`, `rewind/`, `round_01/`, `round_02/`, ... (each a trainer workdir
with checkpoints, logs, `final_model/` (+ masks.npz), `masks.npz`, `thresholds.json`,
`report.json`: sparsity per layer and total, eval metrics), `stages.json` (all reports).
"""

from __future__ import annotations

import dataclasses
import json
from functools import partial
from pathlib import Path
from typing import Any

import jax
import ml_collections
import optax

from jaxsr import files, model_dir, models, startpoints
from jaxsr.methods.base import Context, Exported, Method, Stage, Start
from jaxsr.methods.spec import MethodSpec
from jaxsr.optim.freezing import freeze_below, zero_grads_below
from jaxsr.optim.masking import keep_masked
from jaxsr.sparsity import masks as masks_lib
from jaxsr.sparsity.masks import apply_masks
from jaxsr.sparsity.selection import rules_for
from jaxsr.sparsity.thresholds import prune_masks
from jaxsr.startpoints import build_model

FREEZES = ("grad", "update", "both")


def default_config(freeze_eps: float = 0.0) -> ml_collections.ConfigDict:
    """Defaults of UPru (`freeze_eps` 0) / DUPru (1e-4): the paper leaves p, T and EPS open
    (see configs/dupru.py)."""
    return ml_collections.ConfigDict(
        {
            "rules": (),  # regex rules over param paths; () = the model's default
            "percent": 2.05,  # p: prune p% of the surviving weights per round
            "rounds": 5,  # T: round 1 dense, 4 pruning rounds -> 1 - 0.9795^4 = 7.96 %
            "scope": "layer",  # per-layer percentile (paper) or "global"
            "rewind_step": 0,  # 0: rewind to W0; k > 0: late rewinding to round 1's step k
            "freeze_eps": freeze_eps,  # DUPru's EPS (UPru: 0, the freeze is off)
            "freeze": "grad",  # DUPru: "grad" (eq. 4), "update" (frozen final update), "both"
        }
    )


@dataclasses.dataclass(frozen=True, eq=False)
class MagnitudePruning(Method):
    """Fixed masks (state `masks`), kept exact by the last transforms of the chain."""

    name: str = "upru"
    masks: Any = None
    freeze_eps: float = 0.0
    freeze: str = "grad"

    def init(self, params: Any, rng: jax.Array) -> tuple[Any, dict]:
        del rng
        return params, {"masks": self.masks}

    def optimizer(self, base: optax.GradientTransformation) -> optax.GradientTransformation:
        pre, post = [], [keep_masked()]
        if self.freeze_eps > 0:
            if self.freeze not in FREEZES:
                raise ValueError(f"freeze={self.freeze!r}; known: {', '.join(FREEZES)}")
            if self.freeze in ("grad", "both"):
                pre.append(zero_grads_below(self.freeze_eps))
            if self.freeze in ("update", "both"):
                post.append(freeze_below(self.freeze_eps))
        return optax.chain(*pre, base, *post)

    def export(self, trainable: Any, state: dict) -> Exported:
        return Exported(apply_masks(trainable, state["masks"]), masks=state["masks"])


def check_config(cfg: Any) -> None:
    """The pruning fields, before any compute."""
    if cfg.get("distributed", False):
        raise ValueError(
            f"config.distributed=True: {cfg.method} runs are single-process for now "
            "(every process would write the round files); run without it"
        )
    p = cfg.pruning
    if not 0 < float(p.percent) < 100:
        raise ValueError(f"pruning.percent={p.percent} must be in (0, 100)")
    if int(p.rounds) < 1:
        raise ValueError(f"pruning.rounds={p.rounds} must be >= 1")
    if p.scope not in ("layer", "global"):
        raise ValueError(f"pruning.scope={p.scope!r}; known: ['layer', 'global']")
    rewind = int(p.rewind_step)
    if not 0 <= rewind < int(cfg.train.steps):
        raise ValueError(
            f"pruning.rewind_step={rewind} must be in [0, train.steps={cfg.train.steps})"
        )
    if float(p.freeze_eps) < 0:
        raise ValueError(f"pruning.freeze_eps={p.freeze_eps} must be >= 0")
    if p.freeze not in FREEZES:
        raise ValueError(f"pruning.freeze={p.freeze!r}; known: {', '.join(FREEZES)}")
    rules_for(cfg.model.name, p.rules)


def _method(cfg: Any, masks: Any, freezes: bool) -> MagnitudePruning:
    """UPru (`freezes` False: `pruning.freeze_eps` is not used) or DUPru's masked method."""
    p = cfg.pruning
    eps = float(p.freeze_eps) if freezes else 0.0
    return MagnitudePruning(cfg.method, masks, eps, str(p.freeze))


def initial_point(cfg: Any, root: Path, model: Any) -> dict:
    """W0 (`init_from` or the seeded init), saved once in root/init."""
    return startpoints.once(
        root / "init",
        lambda: {"params": startpoints.start_params(cfg, model), "step": 0, "data_state": None},
        lambda d, point: startpoints.save_point(d, cfg, point),
        lambda d: _existing_point(d, model),
    )


def late_rewind_point(cfg: Any, root: Path, model: Any, step: int, method: Method) -> dict:
    """W_k and the data position after k steps of round 1, saved once in root/rewind."""
    return startpoints.once(
        root / "rewind",
        lambda: startpoints.restore_point(
            root / "round_01" / "checkpoints", step, cfg, model, method, "pruning.rewind_step"
        ),
        lambda d, point: startpoints.save_point(d, cfg, point),
        lambda d: _existing_point(d, model),
    )


def _existing_point(directory: Path, model: Any) -> dict:
    point = startpoints.load_point(directory, model)
    if point is None:  # written by a jaxsr before points were saved atomically
        raise ValueError(f"{directory}: an incomplete start point (no point.json); delete it")
    return point


def _round_masks(ctx: Context, model: Any) -> tuple[Any, dict[str, float]]:
    """(masks, per-layer thresholds) of a round: all-ones over the prunable kernels in round
    1, the previous round's masks pruned by `pruning.percent` afterwards."""
    p = ctx.cfg.pruning
    if ctx.index == 0:
        rules = rules_for(ctx.cfg.model.name, p.rules)
        return masks_lib.init_masks(models.abstract_params(model), rules), {}
    prev = ctx.previous[-1]
    return prune_masks(
        model_dir.load_params(prev / "final_model", model),
        masks_lib.load(prev / "masks.npz"),
        float(p.percent),
        p.scope,
    )


def _save_masks(path: Path, value: tuple[Any, dict[str, float]]) -> None:
    masks, thresholds = value
    files.write_text_atomic(
        path.parent / "thresholds.json", json.dumps(thresholds, indent=2) + "\n"
    )
    masks_lib.save(path, masks)


def _load_masks(path: Path) -> tuple[Any, dict[str, float]]:
    return masks_lib.load(path), json.loads((path.parent / "thresholds.json").read_text())


def _start(ctx: Context, freezes: bool) -> Start:
    cfg = ctx.cfg
    model = build_model(cfg)
    point = initial_point(cfg, ctx.root, model)
    rewind_step = int(cfg.pruning.rewind_step)
    if ctx.index > 0 and rewind_step > 0:
        first = masks_lib.load(ctx.previous[0] / "masks.npz")
        point = late_rewind_point(cfg, ctx.root, model, rewind_step, _method(cfg, first, freezes))
    masks, _ = startpoints.once(
        ctx.dir / "masks.npz", lambda: _round_masks(ctx, model), _save_masks, _load_masks
    )
    if ctx.index > 0:
        point = {**point, "params": masks_lib.apply_masks(point["params"], masks)}
    return Start(_method(cfg, masks, freezes), point["params"], point["step"], point["data_state"])


def _report(ctx: Context, summary: dict) -> dict:
    cfg = ctx.cfg
    last = model_dir.load_params(ctx.dir / "final_model", build_model(cfg))
    rep = masks_lib.sparsity_report(last, masks_lib.load(ctx.dir / "masks.npz"))
    rep.update(
        round=ctx.index + 1,
        thresholds=json.loads((ctx.dir / "thresholds.json").read_text()),
        eval=summary["final_eval"],
        steps=int(cfg.train.steps),
        method=cfg.method,
    )
    ctx.log(
        f"round {ctx.index + 1}/{int(cfg.pruning.rounds)}: sparsity {100 * rep['sparsity']:.2f}% "
        f"of prunable ({100 * rep['model_sparsity']:.2f}% of all params); "
        + " ".join(f"{k}={v:.3f}" for k, v in rep["eval"].items())
    )
    ctx.log(masks_lib.report_table(rep))
    return rep


def recipe(cfg: Any, freezes: bool = False) -> list[Stage]:
    """T rounds; `freezes`: DUPru (the freeze of |w| < pruning.freeze_eps), else UPru."""
    rounds, steps = int(cfg.pruning.rounds), int(cfg.train.steps)
    rewind_step = int(cfg.pruning.rewind_step)

    def keep_rewind_step(c: Any) -> Any:  # round 1 keeps its checkpoint of step k
        if rewind_step > 0:
            c.ckpt.keep_steps = tuple(sorted({*tuple(c.ckpt.get("keep_steps", ())), rewind_step}))
        return c

    return [
        Stage(
            f"round_{r:02d}",
            steps,
            partial(_start, freezes=freezes),
            _report,
            keep_rewind_step if r == 1 else None,
        )
        for r in range(1, rounds + 1)
    ]


UPRU = MethodSpec(
    name="upru",
    title="UPru: iterative magnitude pruning with rewinding",
    paper="dupru_informatica2024.md (Algorithm 1)",
    config="configs/upru.py",
    exports="params + masks",
    recipe=recipe,
    section="pruning",
    defaults=default_config,
    check=check_config,
)
DUPRU = MethodSpec(
    name="dupru",
    title="DUPru: UPru + freezing the weights below EPS",
    paper="dupru_informatica2024.md (eq. 4)",
    config="configs/dupru.py",
    exports="params + masks",
    recipe=partial(recipe, freezes=True),
    section="pruning",
    defaults=partial(default_config, freeze_eps=1e-4),
    check=check_config,
)
