"""What an experiment is: runs (a training config + overrides, per seed) and their evaluation.

A spec file (`experiments/NAME.py`) defines `get_spec(arg: str | None) -> Spec`, like the
config files define `get_config`; `arg` is what follows a colon (`experiments/x.py:demo`).
Every run trains with `python -m jaxsr.train --config=CONFIG --config.KEY=VALUE ...` (the
command is recorded), so a spec is exactly the commands a user would type.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from jaxsr import metrics

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
EVAL_KEYS = metrics.KEYS


@dataclasses.dataclass(frozen=True)
class FromRun:
    """An override value computed from another run of the spec once it has finished:
    `fn(workdir of run)`, e.g. the final lambda of an annealed SLS run for the fixed-lambda
    ablation. `what` describes it (records and the spec check compare this text)."""

    run: str
    fn: Callable[[Path], Any]
    what: str

    def __str__(self) -> str:
        return f"<from {self.run}: {self.what}>"


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run. `group` pools seeds in tables and plots (e.g. "DUPru"); `budget` is
    a label of the run's budget within its method (e.g. "1/8", "50%"); `overrides` are
    `--config.KEY=VALUE` flags (values as text, as on the command line)."""

    group: str
    config: str  # "configs/dupru.py:variant", relative to the repository or absolute
    seed: int = 0
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    budget: str = ""
    name: str = ""  # default: "<group>_s<seed>" made filename-safe

    @property
    def run_name(self) -> str:
        base = self.name or f"{self.group}_s{self.seed}"
        return re.sub(r"[^A-Za-z0-9_.+-]+", "-", base).strip("-")

    def sources(self) -> list[str]:
        """Runs whose results some override values come from (`FromRun`)."""
        return [v.run for v in self.overrides.values() if isinstance(v, FromRun)]

    def resolved(self, workdirs: Path) -> dict[str, Any]:
        """The overrides with every `FromRun` computed from its run's workdir."""
        return {
            k: v.fn(workdirs / v.run) if isinstance(v, FromRun) else v
            for k, v in self.overrides.items()
        }

    def flags(self, workdirs: Path | None = None) -> list[str]:
        """The `jaxsr.train` flags of this run (without --workdir); `FromRun` values are
        computed from `workdirs`."""
        over = self.resolved(workdirs) if workdirs is not None else dict(self.overrides)
        out = [f"--config={self.config}", f"--config.seed={self.seed}"]
        for k, v in over.items():
            if isinstance(v, FromRun):
                raise ValueError(f"run {self.run_name}: {k}={v} needs the workdirs")
            out.append(f"--config.{k}={_flag_value(v)}")
        return out


@dataclasses.dataclass(frozen=True)
class Spec:
    """An experiment: runs, how to evaluate them (benchmark sets under `data`), text for the
    report (markdown: what ran and why), and what the report shows. `baselines` are extra
    table rows evaluated without training: `{"bicubic": "bicubic"}`, a model dir, or
    `"rfdn@path/rfdn_x4.pth"` (a published checkpoint)."""

    name: str
    runs: Sequence[Run]
    data: str  # benchmark root (Set5/, Set14/, ... with HR and LR_bicubic)
    sets: Sequence[str] = ("Set5", "Set14", "B100")
    description: str = ""
    metric: str = "psnr_y"  # the table's and the Pareto plot's quality metric
    baselines: Mapping[str, str] = dataclasses.field(default_factory=dict)
    plots: Sequence[str] = ("pareto", "sparsity", "curves")
    scale: int = 0  # for baselines ("bicubic"); 0: taken from the runs' models
    out: str = ""  # default results folder (relative to the cwd); "": results/<name>
    # adaptive inference: the runs train MSE-estimator ensembles (configs/adaptive.py), each
    # evaluated at every beta and every candidate alone (`jaxsr.evaluate --beta=... --alone`)
    betas: Sequence[float] = ()

    def check(self) -> None:
        """One-line ValueErrors for a malformed spec, before any compute."""
        if not _NAME.match(self.name):
            raise ValueError(f"spec name {self.name!r}: use letters, digits, '_', '.', '-'")
        if not self.runs:
            raise ValueError(f"spec {self.name}: no runs")
        names = [r.run_name for r in self.runs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"spec {self.name}: run names {dup} repeat (vary seed or name)")
        for r in self.runs:
            for src in r.sources():
                if src not in names[: names.index(r.run_name)]:
                    raise ValueError(
                        f"spec {self.name}: run {r.run_name} takes a value from {src!r}, "
                        "which is not a run listed before it"
                    )
        for n in [*names, *self.baselines]:
            if not _NAME.match(n):
                raise ValueError(f"spec {self.name}: run name {n!r} is not filename-safe")
        if self.metric not in EVAL_KEYS:
            raise ValueError(f"spec {self.name}: metric {self.metric!r} not in {EVAL_KEYS}")
        bad = sorted(set(self.plots) - {"pareto", "sparsity", "curves"})
        if bad:
            raise ValueError(f"spec {self.name}: unknown plots {bad}")
        if not self.sets:
            raise ValueError(f"spec {self.name}: no evaluation sets")
        for b in self.betas:
            if not isinstance(b, int | float) or not b >= 0 or b == float("inf"):
                raise ValueError(f"spec {self.name}: beta {b!r} must be a finite number >= 0")
        if self.betas and self.baselines:
            raise ValueError(
                f"spec {self.name}: an adaptive spec (betas) evaluates its candidates alone; "
                "baselines are not used there"
            )


def description(doc: str, spec_file: str) -> str:
    """A spec's report text from its module docstring: the command that runs it, then the
    docstring after its title and command block (the first two paragraphs)."""
    return f"Command: `python -m jaxsr.experiment --spec={spec_file}`\n\n" + doc.split("\n\n", 2)[2]


def _flag_value(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool | int | float):
        return repr(v)
    if isinstance(v, tuple | list):  # a Python literal, as ml_collections parses it
        items = [repr(x) if isinstance(x, str) else _flag_value(x) for x in v]
        return "(" + ",".join(items) + ("," if len(v) == 1 else "") + ")"
    return json.dumps(v)


def load_spec(arg: str, repo: Path) -> Spec:
    """`path[:variant]` of a spec file (relative paths: cwd, then the repository)."""
    path_s, _, variant = arg.partition(":")
    path = Path(path_s)
    if not path.is_file() and not path.is_absolute() and (repo / path).is_file():
        path = repo / path
    if not path.is_file():
        raise FileNotFoundError(f"--spec={arg}: no such file")
    mod_spec = importlib.util.spec_from_file_location(f"jaxsr_spec_{path.stem}", path)
    module = importlib.util.module_from_spec(mod_spec)
    try:
        mod_spec.loader.exec_module(module)
    except Exception as e:  # a syntax error or a failing import in the spec file
        raise ValueError(f"--spec={arg}: {type(e).__name__}: {e}") from None
    if not hasattr(module, "get_spec"):
        raise ValueError(f"{path}: defines no get_spec(arg)")
    spec = module.get_spec(variant or None)
    if not isinstance(spec, Spec):
        raise ValueError(f"{path}: get_spec() returned {type(spec).__name__}, not a Spec")
    spec.check()
    return spec
