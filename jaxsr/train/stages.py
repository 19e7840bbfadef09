"""The stage driver: run (or resume) the recipe of `config.method` in a workdir.

A recipe (`jaxsr.methods.<method>.recipe(cfg)`) is a list of `Stage`s — pretrain → one-shot
prune → fine-tune, T rounds with rewinding, search → fine-tune. Each stage is one `fit` in
its own workdir (`WORKDIR/<stage.name>`, or the workdir itself for a one-stage recipe whose
stage has no name) with its own step budget; its `start` hook (rewind, compute masks, model
surgery) gives the method and the point it starts from. A finished stage leaves
`report.json` and is skipped on a rerun; a killed run resumes inside the unfinished stage
from its latest checkpoint, so the result is the same bit for bit. `stages.json` collects
the reports of the finished stages.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

from jaxsr import distributed, figures, files, methods, model_dir, models, workdir_lock
from jaxsr.methods.base import Context, Stage, Start
from jaxsr.train.config import check_train_config
from jaxsr.train.loop import fit

REPORT = "report.json"
ALL_REPORTS = "stages.json"
RECIPE = "recipe.json"


def _recipe_fields(cfg: Any) -> dict:
    """What a resumed run must share with the run that started the workdir."""
    section = methods.spec(cfg.method).section
    rec = {
        "method": cfg.method,
        "model": cfg.model.to_dict(),
        "init_from": cfg.get("init_from", ""),
        "seed": cfg.seed,
    }
    if section:
        rec[section] = cfg[section].to_dict()
    return json.loads(json.dumps(rec, sort_keys=True, default=str))


def _started(root: Path, stage: Stage) -> bool:
    """Whether `stage` wrote anything in `root` (a one-stage recipe: once it has a recipe)."""
    if not stage.name:
        return True
    d = root / stage.name
    return d.is_dir() and any(d.iterdir())


def _check_same_recipe(
    cfg: Any, root: Path, stages: list[Stage] | None = None, write: bool = True
) -> None:
    """A rerun in a started workdir with another method, model, init, seed or method section
    would silently reuse finished stages, masks and checkpoints: one-line error instead.
    A key that no started stage uses (`Stage.uses`) may change: a later stage's value that
    failed its check can be corrected and the run continues from the finished stages."""
    from flax import traverse_util

    new = _recipe_fields(cfg)
    path = root / RECIPE
    text = json.dumps(new, indent=2, sort_keys=True) + "\n"
    if not path.exists():
        if write:
            files.write_text_atomic(path, text)
        return
    old = json.loads(path.read_text())
    if old == new:
        return
    fo, fn = (traverse_util.flatten_dict(d, sep=".") for d in (old, new))
    started = [s for s in (stages or [Stage("", 0, lambda ctx: None)]) if _started(root, s)]
    for k in sorted(set(fo) | set(fn)):
        uses = [s.uses for s in started if fo.get(k) != fn.get(k)]
        if any(u is None or any(k == p or k.startswith(p + ".") for p in u) for u in uses):
            raise ValueError(
                f"{root} was started with {k}={fo.get(k)!r}, not {fn.get(k)!r}; "
                "use a new --workdir (or the original config)"
            )
    if write:
        files.write_text_atomic(path, text)


def _stage_cfg(cfg: Any, stage: Stage, start: Start) -> Any:
    c = copy.deepcopy(cfg)
    c.train.steps = start.step + int(stage.steps)
    if start.overrides is not None:  # model surgery: the stage trains another shape
        c.model.overrides = dict(start.overrides)
    return stage.configure(c) if stage.configure else c


def check(cfg: Any) -> list[Stage]:
    """The config and the recipe's stages, checked before any compute."""
    check_train_config(cfg)
    stages = methods.recipe(cfg)
    names = [s.name for s in stages]
    if len(set(names)) != len(names) or ("" in names and len(names) > 1):
        raise ValueError(f"config.method={cfg.method!r}: stage names {names} must be unique")
    if cfg.get("distributed", False) and names != [""]:
        raise ValueError(
            f"config.distributed=True: the {len(names)}-stage recipe of {cfg.method!r} is "
            "single-process for now (every process would write the stage files); run without it"
        )
    for s in stages:  # 0 steps: the stage exports its start point (e.g. pruned, not tuned)
        if int(s.steps) < 0:
            raise ValueError(f"stage {s.name or cfg.method!r}: {s.steps} steps; need >= 0")
        if s.configure:  # a stage training another model (e.g. a candidate to pretrain)
            c = s.configure(copy.deepcopy(cfg))
            models.check_builds(c.model, int(c.model.scale), f"stage {s.name}: model")
    return stages


def check_only(cfg: Any, workdir: str | os.PathLike) -> dict:
    """What `run` checks before any compute, without writing anything: the config, the
    recipe, the workdir (writable; if started, by the same recipe). Returns the stages."""
    stages = check(cfg)
    root = Path(workdir).absolute()
    near = next(p for p in (root, *root.parents) if p.exists())
    if near == root and not root.is_dir():
        raise ValueError(f"workdir={workdir}: exists and is not a directory")
    if not near.is_dir():
        raise ValueError(f"workdir={workdir}: cannot create ({near} is not a directory)")
    if not os.access(near, os.W_OK | os.X_OK):
        raise ValueError(f"workdir={workdir}: {near} is not writable")
    if (root / RECIPE).exists() and not cfg.get("distributed", False):
        _check_same_recipe(cfg, root, stages, write=False)
    return {
        "method": str(cfg.method),
        "stages": [{"name": s.name, "steps": int(s.steps)} for s in stages],
    }


def run(cfg: Any, workdir: str | os.PathLike, quiet: bool = False) -> list[dict]:
    """Run (or resume) every stage of `cfg.method`'s recipe; returns the stage reports.
    One run per workdir: its lock (`jaxsr.workdir_lock`, process 0 of a multi-process run)
    is held from before the first write to the end."""
    stages = check(cfg)
    root = files.check_workdir(workdir)
    if distributed.initialize(cfg) and not distributed.is_lead():
        return _run(cfg, root, stages, quiet)
    with workdir_lock.hold(root):
        return _run(cfg, root, stages, quiet)


def _figures(ctx: Context, rep: dict) -> dict[str, str]:
    """The stage report's figures (`jaxsr.figures.stage_figures`), in the stage's dir."""
    return figures.stage_figures(ctx.dir, rep, f"{ctx.cfg.model.name} {ctx.cfg.method}")


def _run(cfg: Any, root: Path, stages: list[Stage], quiet: bool) -> list[dict]:
    if not cfg.get("distributed", False):  # multi-process: one-stage runs only, not recorded
        _check_same_recipe(cfg, root, stages)
    if stages[0].name:  # multi-stage (single-process) runs; `fit` cleans a stage's own dir
        model_dir.remove_stale_tmp(root)

    def log(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stdout, flush=True)

    all_path = root / ALL_REPORTS
    reports: list[dict] = []
    previous: list[Path] = []
    for i, stage in enumerate(stages):
        sdir = root / stage.name if stage.name else root
        ctx = Context(cfg, root, sdir, i, tuple(previous), log)
        previous.append(sdir)
        if stage.name and (sdir / REPORT).exists():  # finished earlier
            reports.append(json.loads((sdir / REPORT).read_text()))
            continue
        sdir.mkdir(parents=True, exist_ok=True)
        start = stage.start(ctx)
        initial = {"params": start.params, "step": start.step, "data_state": start.data_state}
        stage_cfg = _stage_cfg(cfg, stage, start)  # `check` checked the run's config
        summary = fit(stage_cfg, sdir, start.method, quiet, initial, checked=True)
        if not stage.name:  # one-stage recipe: its report (if any) beside the run's outputs
            if stage.report:
                rep = stage.report(ctx, summary)  # reads what `fit` wrote (after its barrier)
                if distributed.is_lead():
                    rep.update(_figures(ctx, rep))
                    files.write_text_atomic(sdir / REPORT, json.dumps(rep, indent=2) + "\n")
            return [summary]
        rep = {"stage": stage.name, **(stage.report(ctx, summary) if stage.report else {})}
        rep.setdefault("eval", summary["final_eval"])
        rep.update(_figures(ctx, rep))
        files.write_text_atomic(sdir / REPORT, json.dumps(rep, indent=2) + "\n")
        reports.append(rep)
        files.write_text_atomic(all_path, json.dumps(reports, indent=2) + "\n")
    text = json.dumps(reports, indent=2) + "\n"  # also after a kill between the two writes
    if not all_path.exists() or all_path.read_text() != text:
        files.write_text_atomic(all_path, text)
    return reports
