"""What is recorded of a finished run: its model's complexity and sparsity, its evaluation,
its training curves (from the workdir's stages), times, hardware and code version.

A record is one JSON object, self-contained: tables, plots and RESULTS.md are made from
records alone, without the training workdirs.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from jaxsr import complexity, model_dir
from jaxsr.compile_cache import cpu_fields
from jaxsr.metric_writer import read_metrics

# keys every record has, and those of a trained run's record (a baseline has "baseline")
KEYS = ("format", "name", "run", "eval")
RUN_KEYS = ("method", "model", "scale", "steps", "train_wall_s", "hardware", "code")


def load(path: Path) -> dict[str, Any]:
    """A record file, or one ValueError naming `path` and what is wrong with it."""
    try:
        rec = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: damaged record, not JSON ({e.msg}, line {e.lineno})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: unreadable record ({e})") from None
    if not isinstance(rec, dict):
        raise ValueError(f"{path}: damaged record, a JSON {type(rec).__name__}, not an object")
    missing = [k for k in (*KEYS, *(() if "baseline" in rec else RUN_KEYS)) if k not in rec]
    if missing:
        raise ValueError(f"{path}: damaged record, no {', '.join(map(repr, missing))}")
    for key in ("run", "eval"):
        if not isinstance(rec[key], dict):
            raise ValueError(f"{path}: damaged record, {key!r} is not an object")
    if rec["name"] != Path(path).stem:
        raise ValueError(f"{path}: record of run {rec['name']!r}, not {Path(path).stem!r}")
    return rec


def stage_dirs(workdir: Path, stages: list[str]) -> list[Path]:
    """The trainer workdirs of a run's recipe stages (names from `jaxsr.train --check`; a
    one-stage recipe's stage "" is the workdir itself), in training order."""
    return [workdir / s if s else workdir for s in stages]


def finished(workdir: Path, stages: list[str]) -> bool:
    """Every stage wrote its summary and its final model."""
    return all(
        (d / "summary.json").exists() and (d / "final_model" / "jaxsr_model.json").exists()
        for d in stage_dirs(workdir, stages)
    )


def curves(workdir: Path, stages: list[str]) -> dict[str, Any]:
    """Training loss and eval records over the run's cumulative training steps: each stage
    continues the x axis where the previous one ended (a round rewound to step k counts its
    steps from k anew); `steps` is the run's total."""

    train_x, train_y, eval_x, eval_v = [], [], [], []
    offset = 0
    for d in stage_dirs(workdir, stages):
        summ = json.loads((d / "summary.json").read_text())
        start, end = int(summ.get("first_step", 0)), int(summ["steps"])
        recs = read_metrics(d) if (d / "metrics.jsonl").exists() else []
        for r in recs:
            if r.get("kind") == "train" and r.get("loss") is not None:
                train_x.append(offset + r["step"] - start)
                train_y.append(float(r["loss"]))
            elif r.get("kind") == "eval":
                eval_x.append(offset + r["step"] - start)
                eval_v.append({k: v for k, v in r.items() if k not in ("step", "kind")})
        offset += end - start
    return {"steps": offset, "step": train_x, "loss": train_y, "eval_step": eval_x, "eval": eval_v}


def events(workdir: Path, stages: list[str]) -> dict[str, int]:
    """The methods' one-off events that happened (e.g. SLS's `budget_met`), at their step
    within their stage; keys `stage/event` for multi-stage runs."""
    out = {}
    for s, d in zip(stages, stage_dirs(workdir, stages), strict=True):
        for k, v in json.loads((d / "summary.json").read_text()).get("events", {}).items():
            if int(v) >= 0:
                out[f"{s}/{k}" if s else k] = int(v)
    return out


def train_wall_s(workdir: Path, stages: list[str]) -> float:
    """Sum of the stages' trainer wall times (a resumed stage counts its last process only)."""
    dirs = stage_dirs(workdir, stages)
    return float(sum(json.loads((d / "summary.json").read_text())["wall_s"] for d in dirs))


def model_facts(model: Path) -> dict[str, Any]:
    """Params, non-zero params, GMACs (dense and kept, output 1280x720) and sparsity of a model
    dir: over all conv kernels, over the masked weights (if it has masks), per conv."""
    from flax import traverse_util

    rep = complexity.pruned_report(model)
    masks = model_dir.load_masks(model)
    masked = None
    if masks is not None:
        leaves = [np.asarray(v) for v in traverse_util.flatten_dict(masks).values()]
        size = sum(m.size for m in leaves)
        masked = float(1 - sum(int(m.sum()) for m in leaves) / size) if size else None
    conv_size = sum(c.size for c in rep.layers)
    conv_nnz = sum(c.nonzero for c in rep.layers)
    return {
        "model": rep.model,
        "scale": rep.scale,
        "params": rep.params,
        "nonzero_params": rep.nonzero_params,
        "gmacs": rep.macs / 1e9,
        "dense_gmacs": rep.dense_macs / 1e9,
        "sparsity_convs": 1 - conv_nnz / conv_size if conv_size else 0.0,
        "sparsity_masked": masked,
        "layers": [
            {
                "layer": c.path,
                "size": c.size,
                "sparsity": 1 - c.nonzero / c.size if c.size else 0.0,
                "pattern": c.pattern,
            }
            for c in rep.layers
        ],
    }


def hardware() -> dict[str, Any]:
    import jax

    cpu = platform.processor() or platform.machine()
    try:
        info = cpu_fields(Path("/proc/cpuinfo").read_text())
        cpu = info.get("model name", cpu)
        if "cpu family" in info and "model" in info:  # a masked "model name" hides the model
            cpu += f" (family {info['cpu family']} model {info['model']})"
    except OSError:
        pass
    dev = jax.devices()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "devices": f"{len(dev)} x {dev[0].device_kind} ({dev[0].platform})",
        "jax": jax.__version__,
    }


def git_version(repo: Path) -> dict[str, Any]:
    """The commit and whether tracked files differ from it (`dirty`)."""

    def git(*args: str) -> str:
        r = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=30)
        return r.stdout.strip() if r.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no")) if commit else None
    return {"commit": commit or None, "dirty": dirty}
