"""SIGKILL inside a stage, then the same command again: every recipe ends bit-identical to an
uninterrupted run (params of every stage's exported model, logs without duplicates, one-off
events logged once). One test, parametrised over the recipes: the killed run is the CLI, the
reference and the rerun run in-process (the same XLA programs as the CLI's; the CLI's own
rerun is tests/test_faults.py's)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxsr import model_dir, train
from jaxsr.metric_writer import read_metrics

from .conftest import REPO, flat_params, sigkill_at_step, tiny_config, with_overrides

# recipe: (tests/configs file, variant, overrides, stage killed ("" = the only one), kill at
# step, the stage's one-off event (logged once) or None). Checkpoints no more often than the
# kill needs (one before it): each save costs more than a tiny step.
RECIPES = {
    "dense": ("tiny", None, {"train.steps": 120, "ckpt.every": 40}, "", 45, None),
    "dupru_rounds": ("tiny_prune", "dupru", {"ckpt.every": 20}, "round_02", 25, None),
    "nm_oneshot_finetune": (
        "tiny_nm",
        None,
        {"train.steps": 60, "ckpt.every": 20},
        "finetune",
        25,
        None,
    ),
    "sls_search": ("tiny_sls", "steps=48,lr=0.01", {"ckpt.every": 12}, "", 15, "budget_met"),
    "l1_filter_finetune": ("tiny_l1", "steps=12", {"ckpt.every": 4}, "finetune", 5, None),
    "fmp_search": ("tiny_fmp", "search=40,steps=4,reg=1.0", {}, "search", 12, "converged"),
}


def _launch(name: str, variant: str | None, over: dict, workdir: Path, data_dir: Path):
    config = REPO / "tests" / "configs" / f"{name}.py"
    args = [f"--config.{k}={v}" for k, v in over.items()]
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jaxsr.train",
            f"--config={config}" + (f":{variant}" if variant else ""),
            f"--workdir={workdir}",
            f"--config.data.data_dir={data_dir}",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )


def _stage_dirs(root: Path) -> list[Path]:
    """Every folder holding an exported model (the run itself for a one-stage recipe)."""
    return sorted(p.parent for p in root.rglob("final_model") if p.is_dir())


@pytest.mark.slow
@pytest.mark.parametrize("recipe", list(RECIPES))
def test_sigkill_inside_a_stage_then_rerun_is_bit_identical(recipe, data_dir, tmp_path):
    name, variant, over, stage, at, event = RECIPES[recipe]
    cfg = with_overrides(tiny_config(name, variant, data_dir), **over)
    train.run(cfg, tmp_path / "ref", quiet=True)
    ref_stage = tmp_path / "ref" / stage
    summary = json.loads((ref_stage / "summary.json").read_text())
    assert at < summary["steps"], (at, summary["steps"])  # the kill lands inside the stage
    if event:
        assert at < summary["events"][event], summary["events"]  # ... and before its event

    run = tmp_path / "run"
    proc = _launch(name, variant, over, run, data_dir)
    killed = sigkill_at_step(proc, run / stage / "metrics.jsonl", at, checkpointed=True)
    assert proc.returncode == -signal.SIGKILL
    assert not (run / stage / "final_model").exists()
    train.run(cfg, run, quiet=True)  # the same command again (in-process: no second start-up)
    if event:  # the kill landed before the event: the rerun logged it
        assert killed < summary["events"][event], (killed, summary["events"])

    resumed = json.loads((run / stage / "summary.json").read_text())["resumed_from"]
    assert resumed is not None and resumed <= killed
    dirs = _stage_dirs(tmp_path / "ref")
    assert [d.relative_to(tmp_path / "ref") for d in dirs] == [
        d.relative_to(run) for d in _stage_dirs(run)
    ]
    for d in dirs:
        a = flat_params(model_dir.load_model(d / "final_model")[1])
        b = flat_params(
            model_dir.load_model(run / d.relative_to(tmp_path / "ref") / "final_model")[1]
        )
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"{d.name}: {k}")
    steps = [r["step"] for r in read_metrics(run / stage) if r["kind"] == "train"]
    ref_steps = [r["step"] for r in read_metrics(ref_stage) if r["kind"] == "train"]
    assert steps == ref_steps  # the killed run's records after its checkpoint were dropped
    events = [r for r in read_metrics(run / stage) if r["kind"] == "event"]
    assert events == [r for r in read_metrics(ref_stage) if r["kind"] == "event"]
    if event:
        step = summary["events"][event]
        assert events == [{"step": step, "kind": "event", event: step}]  # logged once
