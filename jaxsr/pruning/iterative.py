"""Iterative magnitude pruning with rewinding (UPru/DUPru, paper Algorithm 1).

Round 1 trains the masked-nowhere network from the rewind point; every later round t
computes new masks from round t-1's final weights (p-th percentile of the surviving non-zero
|w|, per layer or global), resets the weights to `rewind (.) mask`, starts a fresh optimizer
and trains `config.train.steps` steps. The rewind point is W0 (the initial weights, or an
imported checkpoint, `pruning.rewind_step=0`) or W_k, the weights after k steps of round 1
(late rewinding: the lr schedule and data order then continue from step k). It is saved once
in `WORKDIR/rewind/` (its own directory, so checkpoint rotation never touches it).

Workdir layout: `rewind/`, `round_01/`, `round_02/`, ... (each a trainer workdir with its
checkpoints, logs, `final_model/` and `masks.npz`), `rounds.json` (one report per finished
round: sparsity per layer and total, eval metrics). A restarted run skips finished rounds and
resumes the current round from its latest checkpoint.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import traverse_util

from jaxsr import checkpoint as model_io
from jaxsr import models, trainer, validate
from jaxsr.checkpointing import Checkpointer
from jaxsr.pruning import masks as masks_lib
from jaxsr.pruning.methods import magnitude_pruning_method
from jaxsr.pruning.selection import rules_for
from jaxsr.pruning.thresholds import prune_masks


def save_masks(path: Path, masks: dict) -> None:
    flat = {"/".join(k): np.asarray(v) for k, v in traverse_util.flatten_dict(masks).items()}
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **flat)
    os.replace(tmp, path)


def load_masks(path: str | os.PathLike) -> dict:
    """Masks saved by a pruning round (`round_XX/masks.npz`), as a nested dict of bool arrays."""
    with np.load(path) as z:
        return traverse_util.unflatten_dict({tuple(k.split("/")): z[k] for k in z.files})


def _round_cfg(cfg: Any, rnd: int, rewind_step: int) -> Any:
    c = copy.deepcopy(cfg)
    start = rewind_step if rnd > 1 else 0
    c.train.steps = start + int(cfg.train.steps)
    if rnd == 1 and rewind_step > 0:
        c.ckpt.keep_steps = tuple(sorted({*tuple(cfg.ckpt.get("keep_steps", ())), rewind_step}))
    return c


def _save_point(directory: Path, cfg: Any, point: dict) -> None:
    model_io.save_model(
        directory,
        jax.device_get(point["params"]),
        models.spec(cfg.model.name).name,
        int(cfg.model.scale),
        dict(cfg.model.get("overrides", {})),
        source=f"rewind point, step {point['step']}",
        overwrite=True,
    )
    meta = directory / "point.json"
    tmp = meta.with_suffix(".tmp")
    tmp.write_text(json.dumps({"step": point["step"], "data_state": point["data_state"]}))
    tmp.replace(meta)


def _load_point(directory: Path, model: Any) -> dict | None:
    meta = directory / "point.json"
    if not meta.exists():
        return None
    m = json.loads(meta.read_text())
    return {
        "params": model_io.load_params(directory, model),
        "step": m["step"],
        "data_state": m["data_state"],
    }


def initial_point(cfg: Any, workdir: Path, model: Any) -> dict:
    """W0 (seeded init, or `init_from`), saved once in workdir/init."""
    point = _load_point(workdir / "init", model)
    if point is None:
        params = trainer._init_params_from(cfg, model)
        if params is None:
            key = jax.random.split(jax.random.PRNGKey(int(cfg.seed)))[0]
            params = models.init_params(model, key)
        point = {"params": params, "step": 0, "data_state": None}
        _save_point(workdir / "init", cfg, point)
    return point


def late_rewind_point(
    cfg: Any, workdir: Path, model: Any, step: int, masks: dict, method: Any
) -> dict:
    """W_k and the data position after k steps of round 1, saved once in workdir/rewind."""
    point = _load_point(workdir / "rewind", model)
    if point is not None:
        return point
    ck = Checkpointer(workdir / "round_01" / "checkpoints", 1, 1)
    if step not in ck.all_steps():
        raise ValueError(
            f"pruning.rewind_step={step} is not among round 1's checkpoints {ck.all_steps()}"
        )
    # a template with round 1's exact state structure (its optimizer chain included)
    tx = trainer.make_optimizer(cfg.optim, method.constraints, method.pre_transforms)
    ema = float(cfg.optim.get("ema_decay", 0.0)) > 0
    like = trainer.init_state(model, tx, 0, ema, method)
    state, data_state, _ = ck.restore(step, like)
    ck.close()
    point = {"params": state.params, "step": step, "data_state": data_state}
    _save_point(workdir / "rewind", cfg, point)
    return point


def check_config(cfg: Any) -> None:
    """The pruning fields (and the training config), before any compute."""
    validate.check_train_config(cfg)
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
    if p.get("scope", "layer") not in ("layer", "global"):
        raise ValueError(f"pruning.scope={p.scope!r}; known: ['layer', 'global']")
    rewind = int(p.get("rewind_step", 0))
    if not 0 <= rewind < int(cfg.train.steps):
        raise ValueError(
            f"pruning.rewind_step={rewind} must be in [0, train.steps={cfg.train.steps})"
        )
    if float(p.get("freeze_eps", 0.0)) < 0:
        raise ValueError(f"pruning.freeze_eps={p.freeze_eps} must be >= 0")
    rules_for(cfg.model.name, p.get("rules"))


def run(cfg: Any, workdir: str | os.PathLike, quiet: bool = False) -> list[dict]:
    """Run (or resume) all rounds; returns the per-round reports."""
    check_config(cfg)
    workdir = validate.check_workdir(workdir)
    model_io.remove_stale_tmp(workdir)
    p = cfg.pruning
    rounds, percent = int(p.rounds), float(p.percent)
    rewind_step = int(p.get("rewind_step", 0))
    zero_grads = bool(p.get("zero_grads", False))
    eps = float(p.get("freeze_eps", 0.0)) if cfg.method == "dupru" else 0.0
    overrides = dict(cfg.model.get("overrides", {}))
    model = models.create(cfg.model.name, int(cfg.model.scale), **overrides)
    rules = rules_for(cfg.model.name, p.get("rules"))
    init = initial_point(cfg, workdir, model)
    reports_path = workdir / "rounds.json"
    reports: list[dict] = json.loads(reports_path.read_text()) if reports_path.exists() else []
    masks = masks_lib.init_masks(models.abstract_params(model), rules)
    last_params = None
    for rnd in range(1, rounds + 1):
        rdir = workdir / f"round_{rnd:02d}"
        report_path = rdir / "report.json"
        if report_path.exists():  # finished earlier
            masks = load_masks(rdir / "masks.npz")
            last_params = model_io.load_params(rdir / "final_model", model)
            continue
        rdir.mkdir(parents=True, exist_ok=True)
        thresholds: dict[str, float] = {}
        if rnd == 1:
            start = init
        else:
            point = (
                init
                if rewind_step == 0
                else late_rewind_point(
                    cfg,
                    workdir,
                    model,
                    rewind_step,
                    masks,
                    magnitude_pruning_method(masks, eps, zero_grads, cfg.method),
                )
            )
            if (rdir / "masks.npz").exists():  # resuming this round
                masks = load_masks(rdir / "masks.npz")
                thresholds = json.loads((rdir / "thresholds.json").read_text())
            else:
                masks, thresholds = prune_masks(
                    last_params, masks, percent, p.get("scope", "layer")
                )
            start = {**point, "params": masks_lib.apply(point["params"], masks)}
        if not (rdir / "masks.npz").exists():
            validate.write_text_atomic(
                rdir / "thresholds.json", json.dumps(thresholds, indent=2) + "\n"
            )
            save_masks(rdir / "masks.npz", masks)
        method = magnitude_pruning_method(masks, eps, zero_grads, cfg.method)
        summary = trainer.train(_round_cfg(cfg, rnd, rewind_step), rdir, method, quiet, start)
        last_params = model_io.load_params(rdir / "final_model", model)
        rep = masks_lib.sparsity_report(last_params, masks)
        rep.update(
            round=rnd,
            thresholds=thresholds,
            eval=summary["final_eval"],
            steps=int(cfg.train.steps),
            method=cfg.method,
        )
        if not quiet:
            print(
                f"round {rnd}/{rounds}: sparsity {100 * rep['sparsity']:.2f}% of prunable "
                f"({100 * rep['model_sparsity']:.2f}% of all params); "
                + " ".join(f"{k}={v:.3f}" for k, v in rep["eval"].items())
            )
            print(masks_lib.report_table(rep))
        tmp = report_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(rep, indent=2) + "\n")
        tmp.replace(report_path)
        reports = [r for r in reports if r["round"] != rnd] + [rep]
        validate.write_text_atomic(reports_path, json.dumps(reports, indent=2) + "\n")
    return reports
