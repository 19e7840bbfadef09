"""Run an experiment spec: train every run (resumable, finished runs skipped), evaluate its
final model, record it, then write the results folder (`jaxsr.experiment.report`).

Layout: training workdirs under `WORKDIRS/<run>` (large: checkpoints), records under
`OUT/runs/<run>.json` (small, self-contained: what tables, plots and RESULTS.md are made of).
A run whose record exists is done; a run whose workdir exists resumes (the trainer's own
resume, bit-identical); its flags are checked against the record / workdir first.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jaxsr import files, methods, metrics, model_dir, startpoints
from jaxsr.cli import config_from_flags, error_line
from jaxsr.evaluate import evaluate, evaluate_adaptive
from jaxsr.experiment import record
from jaxsr.experiment.spec import Run, Spec
from jaxsr.interrupt import Interrupted
from jaxsr.train import stages

REPO = Path(__file__).resolve().parents[2]
FORMAT = 1


def _train_cmd(run: Run, workdir: Path) -> list[str]:
    flags = run.flags(workdir.parent)  # FromRun values from the sibling runs' workdirs
    return [sys.executable, "-m", "jaxsr.train", *flags, f"--workdir={workdir}"]


def _shown(cmd: list[str]) -> str:
    """The command as a user would type it (python -m ..., paths as given)."""
    return " ".join(["python", *cmd[1:]])


def _run_text(run: Run) -> dict[str, Any]:
    return {
        "group": run.group,
        "budget": run.budget,
        "seed": run.seed,
        "config": run.config,
        "overrides": {k: str(v) for k, v in run.overrides.items()},
    }


def check_runs(
    spec: Spec, out: Path, workdirs: Path, log: Callable[[str], None]
) -> dict[str, list[str]]:
    """The runs still to do, each with its recipe's stage names, after checking each (record
    vs spec; the trainer's own config and workdir checks, `jaxsr.train --check`) before any
    training."""
    todo: dict[str, list[str]] = {}
    for run in spec.runs:
        rec_path = out / "runs" / f"{run.run_name}.json"
        if rec_path.exists():
            check_settings(record.load(rec_path), run, rec_path)
            continue
        if run.sources():  # values from runs not finished yet: checked just before training
            todo[run.run_name] = []
            continue
        todo[run.run_name] = check_run(run, workdirs, estimator=bool(spec.betas))
    log(f"{spec.name}: {len(spec.runs) - len(todo)} run(s) recorded, {len(todo)} to do")
    return todo


def check_settings(rec: dict, run: Run, path: Path) -> None:
    """A record made with other settings than `run` has now: refused (runs and reports)."""
    if rec.get("run") != _run_text(run):
        raise ValueError(
            f"{path}: recorded with other settings than spec run {run.run_name} "
            "now has; delete the record (and its workdir) or rename the run"
        )


def check_run(run: Run, workdirs: Path, estimator: bool = False) -> list[str]:
    """`jaxsr.train --check` of one run, in this process (its flags parsed as the CLI parses
    them, then `stages.check_only`): its recipe's stage names, or a one-line ValueError.
    `estimator`: the run must train MSE estimators (an adaptive spec evaluates it by beta)."""
    try:
        args = run.flags(workdirs)  # FromRun values from the sibling runs' workdirs
    except Exception as e:  # a FromRun value that cannot be computed from its run
        raise ValueError(f"run {run.run_name}: {type(e).__name__}: {e}") from None
    try:  # from the repository root, as the trainer runs (relative config and init paths)
        with contextlib.chdir(REPO):
            checked = stages.check_only(config_from_flags(args), workdirs / run.run_name)
    except KeyboardInterrupt:
        raise
    except Exception as e:
        raise ValueError(f"run {run.run_name}: {error_line(e)}") from None
    trains = methods.spec(checked["method"]).model_kind
    if estimator and trains != "estimator":
        raise ValueError(
            f"run {run.run_name}: config.method={checked['method']!r} trains {trains} models; "
            "an adaptive spec (betas) needs runs that train estimators (configs/adaptive.py)"
        )
    return [s["name"] for s in checked["stages"]]


def _run_forwarding_signals(cmd: list[str], out: Any) -> tuple[int, str | None]:
    """Run `cmd` (its output to the open file `out`) and wait for it, passing on every SIGINT /
    SIGTERM this process gets meanwhile: the trainer saves a checkpoint on the first and
    stops (a second SIGINT stops it at once). The child runs in its own session, so a Ctrl-C
    in the terminal reaches it once, through here, not twice. Returns the child's exit code
    and the name of the first signal passed on (None if none came)."""
    got: list[int] = []
    proc: subprocess.Popen | None = None

    def forward(signum: int, frame: Any) -> None:
        got.append(signum)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signum)

    old: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, forward)
    try:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True
        )
        for signum in got:  # arrived while the child was starting
            proc.send_signal(signum)
        code = proc.wait()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if proc is not None and proc.poll() is None:  # only on an error here: leave no orphan
            proc.kill()
            proc.wait()
    return code, signal.Signals(got[0]).name if got else None


def train(run: Run, workdir: Path, log: Callable[[str], None]) -> float:
    """Train (or resume) one run in a subprocess; its output goes to `WORKDIR.log`. Returns
    the wall seconds of this call. A SIGINT/SIGTERM to the runner is passed on to the trainer,
    which saves a checkpoint; then `Interrupted` is raised (rerunning resumes)."""

    workdir.parent.mkdir(parents=True, exist_ok=True)
    cmd = _train_cmd(run, workdir)
    log(f"train {run.run_name}: {_shown(cmd)}")
    t0 = time.perf_counter()
    logfile = workdir.parent / f"{workdir.name}.log"
    with logfile.open("a") as f:
        code, sig = _run_forwarding_signals(cmd, f)
    lines = [ln for ln in logfile.read_text().splitlines() if ln.strip()]
    tail = lines[-1] if lines else ""
    if sig is not None:
        said = tail.removeprefix("interrupted: ").removesuffix("; rerun the same command to resume")
        if said == tail:  # the trainer did not say it stopped cleanly
            said = f"stopped on {sig}, trainer exit {code}, log {logfile}"
        raise Interrupted(f"run {run.run_name}: {said}; rerun the same command to resume")
    if code != 0:
        raise RuntimeError(f"run {run.run_name} failed (exit {code}; log {logfile}): {tail}")
    return time.perf_counter() - t0


def evaluate_model(model: str, spec: Spec, scale: int | None = None) -> dict[str, Any]:
    """{set: {psnr_rgb, ssim_rgb, psnr_y, ssim_y, seconds}} of a model dir or "bicubic"."""

    if model == "bicubic":
        res = evaluate("bicubic", scale, None, spec.data, list(spec.sets), show=False)
    else:
        res = evaluate(None, None, model, spec.data, list(spec.sets), show=False)
    return {s: {k: float(v[k]) for k in (*metrics.KEYS, "seconds")} for s, v in res["sets"].items()}


def make_record(
    run: Run, workdir: Path, stages: list[str], spec: Spec, call_wall_s: float
) -> dict[str, Any]:
    """The record of a finished run (evaluates its final model)."""
    dirs = record.stage_dirs(workdir, stages)
    model = dirs[-1] / "final_model"
    t0 = time.perf_counter()
    if spec.betas:  # an MSE-estimator ensemble: every beta and every candidate alone
        doc = evaluate_adaptive(
            str(model), spec.data, list(spec.sets), list(spec.betas), alone=True, show=False
        )
        ev: dict[str, Any] = {}
        facts: dict[str, Any] = {"model": "adaptive", "scale": doc["scale"], "adaptive": doc}
    else:
        ev, facts = evaluate_model(str(model), spec), record.model_facts(model)
    eval_s = time.perf_counter() - t0
    cfg = json.loads((dirs[0] / "config.json").read_text())
    curves = record.curves(workdir, stages)
    return {
        "format": FORMAT,
        "name": run.run_name,
        "run": _run_text(run),
        "method": cfg.get("method", ""),
        "command": _shown(_train_cmd(run, workdir)),
        "overrides": {k: str(v) for k, v in run.resolved(workdir.parent).items()},
        "workdir": str(workdir),
        "stages": stages,
        "steps": curves["steps"],
        **facts,
        "eval": ev,
        "events": record.events(workdir, stages),
        "train_wall_s": record.train_wall_s(workdir, stages),
        "run_wall_s": call_wall_s,  # this runner call's training wall time (0: trained earlier)
        "eval_wall_s": eval_s,
        "curves": curves,
        "hardware": record.hardware(),
        "code": record.git_version(REPO),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }


def baseline_record(name: str, model: str, spec: Spec, scale: int) -> dict[str, Any]:
    """A table row evaluated without training: "bicubic", a model dir, or `MODEL@FILE.pth`
    (a published checkpoint, imported into a temporary model dir)."""
    import tempfile

    out: dict[str, Any] = {"format": FORMAT, "name": name, "baseline": model}
    with tempfile.TemporaryDirectory() as tmp:
        path = model
        if "@" in model and model.endswith(".pth"):
            arch, pth = model.split("@", 1)
            if not Path(pth).is_file():
                raise FileNotFoundError(f"baseline {name}: {pth}: no such file")
            _, params, arch, _ = startpoints.load_model(pth, arch, scale)
            path = str(model_dir.save_model(Path(tmp) / name, params, arch, scale, source=pth))
        elif model != "bicubic" and not (Path(model) / "jaxsr_model.json").exists():
            raise FileNotFoundError(
                f"baseline {name}: {model} is not 'bicubic', a model dir or MODEL@FILE.pth"
            )
        if path != "bicubic":
            out.update(record.model_facts(Path(path)))
        out.update(
            {
                "run": {"group": name, "budget": "", "seed": 0},
                "eval": evaluate_model(path, spec, scale),
                "hardware": record.hardware(),
                "code": record.git_version(REPO),
            }
        )
    return out


def prepare(
    spec: Spec,
    out: Path,
    workdirs: Path,
    only: list[str] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, list[str]]:
    """Every check of `spec` against its records and the trainer's, before any training: the
    runs still to do (a bad spec, run or record is a one-line error)."""
    spec.check()
    if not Path(spec.data).is_dir():
        raise FileNotFoundError(f"spec {spec.name}: data {spec.data} is not a directory")
    if only:
        unknown = sorted(set(only) - {r.run_name for r in spec.runs})
        if unknown:
            raise ValueError(f"--only: no runs {unknown} in spec {spec.name}")
    return check_runs(spec, out, workdirs, log)


def run_experiment(
    spec: Spec,
    out: Path,
    workdirs: Path,
    only: list[str] | None = None,
    log: Callable[[str], None] = print,
    todo: dict[str, list[str]] | None = None,
) -> list[dict]:
    """Do what is left of `spec` and return every record (runs, then baselines). `only`:
    names of the runs to do now (the others are left as they are; the report includes all
    finished ones). `todo`: `prepare`'s result, if already checked."""
    if todo is None:
        todo = prepare(spec, out, workdirs, only, log)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    for run in spec.runs:
        if run.run_name not in todo or (only and run.run_name not in only):
            continue
        wd, stages = workdirs / run.run_name, todo[run.run_name]
        if run.sources():
            missing = [s for s in run.sources() if not (out / "runs" / f"{s}.json").exists()]
            if missing:
                log(f"skip {run.run_name}: needs the finished run(s) {missing}")
                continue
            stages = check_run(run, workdirs, estimator=bool(spec.betas))
        wall = 0.0 if record.finished(wd, stages) else train(run, wd, log)
        rec = make_record(run, wd, stages, spec, wall)
        path = out / "runs" / f"{run.run_name}.json"
        files.write_text_atomic(path, json.dumps(rec, indent=1) + "\n")
        ev = rec["eval"] or rec["adaptive"]["runs"][0]["sets"]  # adaptive: the first beta
        log(
            f"done {run.run_name}: {rec['steps']} steps, train {rec['train_wall_s']:.0f} s; "
            + ", ".join(f"{s} {v[spec.metric]:.3f}" for s, v in ev.items())
        )
    scale = spec.scale or _scale(out, spec)
    for name, model in spec.baselines.items():
        path = out / "runs" / f"{name}.json"
        if not path.exists() and scale:
            rec = baseline_record(name, model, spec, scale)
            files.write_text_atomic(path, json.dumps(rec, indent=1) + "\n")
    return load_records(out, spec)


def _scale(out: Path, spec: Spec) -> int:
    for run in spec.runs:
        p = out / "runs" / f"{run.run_name}.json"
        if p.exists():
            return int(record.load(p)["scale"])
    return 0


def load_records(out: Path, spec: Spec | None = None) -> list[dict]:
    """The records of a results folder: the spec's runs and baselines in spec order (those
    finished; a run's record must have the spec's settings, as a run requires), or every
    record in the folder."""
    d = out / "runs"
    if spec is None:
        return [record.load(p) for p in sorted(d.glob("*.json"))]
    out_recs = []
    for run in spec.runs:
        path = d / f"{run.run_name}.json"
        if path.exists():
            rec = record.load(path)
            check_settings(rec, run, path)
            out_recs.append(rec)
    return out_recs + [
        record.load(d / f"{n}.json") for n in spec.baselines if (d / f"{n}.json").exists()
    ]


def environ_note() -> str:
    """Threads/env that change timings (recorded with the report)."""
    keys = ("XLA_FLAGS", "JAXSR_COMPILE_CACHE", "OMP_NUM_THREADS")
    return ", ".join(f"{k}={os.environ[k]}" for k in keys if k in os.environ)
