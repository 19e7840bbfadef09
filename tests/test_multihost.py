"""Real multi-process training on localhost: 2 and 4 processes (JAX distributed runtime, gloo
CPU collectives, one CPU device each) started by `launch/multihost.sh`, against 1 process.

- the per-host input pipeline blocks stack up to the single-host batches (in process);
- 2 processes (building the TFDS dataset once) end with the 1-process params and eval
  (float32 rounding), write one checkpoint tree, one metrics log and one model directory;
- checkpoints move between process counts: 2 -> 1 and 1 -> 4 processes resume at step 10 and
  end with the 1-process params;
- a SIGTERM to one of 2 processes: both stop at the same step and save it (exit 130); in the
  rerun a SIGKILL of one process: the launcher stops the other; the next rerun resumes from
  the last checkpoint and ends bit-identical to the uninterrupted 2-process run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxsr import distributed, model_dir, train
from jaxsr.configs_lib import base_config, load_sibling
from jaxsr.data import pipeline
from jaxsr.metric_writer import read_metrics

from .conftest import REPO, complete_lines, with_overrides

TINY = REPO / "tests" / "configs" / "tiny.py"
LAUNCH = REPO / "launch" / "multihost.sh"
STEPS = 20  # tiny config: checkpoints every 10 steps, the latest 2 kept

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="uses /proc to find the launched processes"
)


def _tiny(data_dir: Path, steps: int):
    cfg = load_sibling(str(TINY), TINY.name).get_config()
    return with_overrides(
        cfg, **{"data.data_dir": str(data_dir), "train.steps": steps, "mesh.num_devices": 1}
    )


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "SLURM_"))}
    flags = env.get("XLA_FLAGS", "").split()
    env["XLA_FLAGS"] = " ".join(f for f in flags if "force_host_platform_device_count" not in f)
    return {**env, "JAX_PLATFORMS": "cpu", "PYTHON": sys.executable}


def _launch(workdir: Path, data_dir: Path, n: int, steps: int = STEPS) -> subprocess.Popen:
    """`LOCAL_PROCESSES=n launch/multihost.sh` (process 0's output on the pipe)."""
    cmd = [
        str(LAUNCH),
        str(TINY),
        str(workdir),
        f"--config.data.data_dir={data_dir}",
        f"--config.train.steps={steps}",
    ]
    return subprocess.Popen(
        cmd,
        cwd=REPO,
        env={**_env(), "LOCAL_PROCESSES": str(n)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _run(workdir: Path, data_dir: Path, n: int, steps: int = STEPS) -> str:
    proc = _launch(workdir, data_dir, n, steps)
    out, _ = proc.communicate(timeout=300)
    logs = "".join(p.read_text()[-2000:] for p in sorted((workdir / "logs").glob("*.log")))
    assert proc.returncode == 0, out[-3000:] + logs
    return out


def _params(workdir: Path) -> list[np.ndarray]:
    _, params, _ = model_dir.load_model(workdir / "final_model")
    return [np.asarray(x) for x in jax.tree.leaves(params)]


def _assert_close(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """Same math, other all-reduce order: float32 rounding (as in test_trainer's 8 devices)."""
    diff = max(float(np.max(np.abs(x - y))) for x, y in zip(a, b, strict=True))
    scale = max(float(np.max(np.abs(x))) for x in a)
    print(f"max abs diff {diff:.3g} (max |param| {scale:.3g})")
    assert diff < 1e-5 * max(1.0, scale)
    return diff


def _children(pid: int) -> dict[int, int]:
    """{JAX_PROCESS_ID: pid} of the processes started by the launcher `pid`."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != pid:
                continue
            env = (stat.parent / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        for var in env:
            if var.startswith(b"JAX_PROCESS_ID="):
                out[int(var.split(b"=")[1])] = int(stat.parent.name)
    return out


def _copy_checkpoint(src: Path, step: int, dst: Path) -> None:
    shutil.copytree(src / "checkpoints" / str(step), dst / "checkpoints" / str(step))


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, data_dir) -> Path:
    """The reference: 1 process, in this process (also builds the TFDS dataset)."""
    workdir = tmp_path_factory.mktemp("one")
    train.fit(_tiny(data_dir, STEPS), workdir, quiet=True)
    return workdir


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> Path:
    """2 processes with a data dir of their own: process 0 builds it while process 1 waits."""
    workdir = tmp_path_factory.mktemp("two")
    _run(workdir, tmp_path_factory.mktemp("tfds_two"), 2)
    return workdir


def test_cluster_args_from_config_then_environment(monkeypatch):
    for var in distributed.ENV.values():
        monkeypatch.delenv(var, raising=False)
    cfg = base_config()
    assert distributed.cluster_args(cfg) == {"heartbeat_timeout_seconds": 100}  # JAX detects
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "h0:1234")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "4")
    monkeypatch.setenv("JAX_PROCESS_ID", "0")
    want = {"coordinator_address": "h0:1234", "num_processes": 4, "process_id": 0}
    assert distributed.cluster_args(cfg) == {**want, "heartbeat_timeout_seconds": 100}
    cfg.cluster.update(coordinator="h1:99", num_processes=2, process_id=1, heartbeat_timeout_s=0)
    assert distributed.cluster_args(cfg) == {
        "coordinator_address": "h1:99",
        "num_processes": 2,
        "process_id": 1,
    }
    assert not distributed.initialize(cfg)  # cfg.distributed is False: nothing to join


def test_host_blocks_stack_to_the_single_host_batches(one_process, data_dir):
    pairs = train.load_train_pairs(_tiny(data_dir, STEPS), 2)
    ds_args = (pairs, 16, 2, 8, 0)
    single = pipeline.train_iterator(pipeline.train_dataset(*ds_args), 1)
    want = [next(single) for _ in range(5)]
    assert single.get_state() == {"next_index": 5}
    for n in (2, 4):
        its = [pipeline.train_iterator(pipeline.train_dataset(*ds_args, p, n), 1) for p in range(n)]
        for t in range(5):
            got = [next(it) for it in its]
            for k in ("lr", "hr"):
                np.testing.assert_array_equal(np.concatenate([g[k] for g in got]), want[t][k])
        assert all(it.get_state() == {"next_index": 5} for it in its)
    # a state saved with one process count continues the global stream with another
    its = [pipeline.train_iterator(pipeline.train_dataset(*ds_args, p, 2), 1) for p in range(2)]
    for it in its:
        it.set_state({"next_index": 3})
    for t in (3, 4):
        got = np.concatenate([next(it)["hr"] for it in its])
        np.testing.assert_array_equal(got, want[t]["hr"])


@pytest.mark.slow
def test_two_processes_match_one_and_write_once(one_process, two_processes):
    _assert_close(_params(one_process), _params(two_processes))
    w = two_processes
    summary = json.loads((w / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["devices"] == 2
    ref_eval = json.loads((one_process / "summary.json").read_text())["final_eval"]
    assert summary["final_eval"] == pytest.approx(ref_eval, rel=1e-4)  # eval in training
    # one checkpoint tree (steps 10 and 20, nothing half-written), one log, one model dir
    assert sorted(p.name for p in (w / "checkpoints").iterdir()) == ["10", "20"]
    for step in (10, 20):
        assert (w / "checkpoints" / str(step) / "state" / "_METADATA").is_file()
    data_state = json.loads((w / "checkpoints" / "10" / "data" / "metadata").read_text())
    assert data_state == {"next_index": 10}
    steps = [r["step"] for r in read_metrics(w) if r["kind"] == "train"]
    assert steps == list(range(1, STEPS + 1))
    assert sorted(p.name for p in w.iterdir()) == [
        ".jaxsr.lock",  # process 0 holds the run's lock
        "best_model",
        "checkpoints",
        "config.json",
        "final_model",
        "images",
        "logs",
        "metrics.jsonl",
        "summary.json",
    ]
    # the eval's sample crop (eval only at the last step), written by process 0 only
    images = sorted(p.name for p in (w / "images" / "bicubic_sr_hr").iterdir())
    assert images == [f"{STEPS:09d}.png"]
    # the same loss curve as one process (same global batches), to float32 rounding
    ref = [r["loss"] for r in read_metrics(one_process) if r["kind"] == "train"]
    got = [r["loss"] for r in read_metrics(w) if r["kind"] == "train"]
    np.testing.assert_allclose(got, ref, rtol=1e-5)


@pytest.mark.slow
def test_checkpoints_move_between_process_counts(one_process, two_processes, data_dir, tmp_path):
    # 2 processes -> 1: resume the 2-process checkpoint of step 10 in this process
    w = tmp_path / "two_to_one"
    _copy_checkpoint(two_processes, 10, w)
    res = train.fit(_tiny(data_dir, STEPS), w, quiet=True)
    assert res["resumed_from"] == 10 and res["processes"] == 1
    _assert_close(_params(one_process), _params(w))
    # 1 process -> 4
    w = tmp_path / "one_to_four"
    _copy_checkpoint(one_process, 10, w)
    out = _run(w, data_dir, 4)
    assert f"resumed from {w / 'checkpoints'}/10" in out
    summary = json.loads((w / "summary.json").read_text())
    assert summary["processes"] == 4 and summary["resumed_from"] == 10
    _assert_close(_params(one_process), _params(w))


def _signal_at(
    proc: subprocess.Popen, w: Path, step: int, sig: int, ckpt: int = 0
) -> tuple[int, dict[int, int]]:
    """Send `sig` to process 1 of the launcher `proc` once `w`'s metrics log `step` (and
    checkpoint `ckpt` is complete, if given); the step logged then and the processes."""
    metrics, deadline = w / "metrics.jsonl", time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        lines = complete_lines(metrics) if metrics.exists() else []
        done = not ckpt or (w / "checkpoints" / str(ckpt)).is_dir()  # renamed when complete
        if done and lines and json.loads(lines[-1])["step"] >= step:
            workers = _children(proc.pid)
            os.kill(workers[1], sig)
            return json.loads(lines[-1])["step"], workers
        time.sleep(0.01)
    raise AssertionError(f"the run ended before step {step}: {proc.communicate()[0][-3000:]}")


@pytest.mark.slow
def test_sigterm_then_sigkill_to_one_process_then_resume_is_bit_identical(
    two_processes, data_dir, tmp_path
):
    """A scheduler's SIGTERM to one of 2 processes: all agree on the stop step, save it and
    exit 130. The rerun resumes there; a SIGKILL of one process after the step-10 checkpoint:
    the launcher stops the other and fails. The next rerun resumes from step 10 and ends
    bit-identical to the uninterrupted run, each step logged once."""
    w = tmp_path / "w"
    proc = _launch(w, data_dir, 2)
    _signal_at(proc, w, 3, signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out[-3000:]
    mine = (w / "logs" / "process_1.log").read_text().strip().splitlines()[-1]
    lead = [ln for ln in out.splitlines() if ln.startswith("interrupted:")]
    at = int(mine.split("at step ")[1].split(":")[0])
    assert mine.startswith(f"interrupted: SIGTERM at step {at}: checkpoint saved in")
    assert lead == [mine.replace("SIGTERM", "stop request")]  # process 0 stopped at the same step
    assert 3 <= at < 10 and (w / "checkpoints" / str(at)).is_dir()

    proc = _launch(w, data_dir, 2)
    killed_at, workers = _signal_at(proc, w, 12, signal.SIGKILL, ckpt=10)
    out, _ = proc.communicate(timeout=60)  # the launcher stops process 0 and fails
    assert proc.returncode == 128 + signal.SIGKILL, out[-3000:]
    assert f"resumed from {w / 'checkpoints'}/{at}" in out
    assert "stopping the other processes" in out
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers.values())
    assert not (w / "final_model").exists()

    out = _run(w, data_dir, 2)
    summary = json.loads((w / "summary.json").read_text())
    assert "resumed from" in out and summary["resumed_from"] == 10 <= killed_at
    for a, b in zip(_params(two_processes), _params(w), strict=True):
        np.testing.assert_array_equal(a, b)
    steps = [r["step"] for r in read_metrics(w) if r["kind"] == "train"]
    assert steps == list(range(1, STEPS + 1))


SLOW_SAVE = """
import os, runpy, sys, time
from jaxsr.train import exporter
save = exporter.save_model
def slow(*args, **kwargs):
    if os.environ.get("JAX_PROCESS_ID") == "0":
        time.sleep(4)  # process 0 writes final_model late: the others must wait for it
    return save(*args, **kwargs)
exporter.save_model = slow
sys.argv = ["jaxsr.train", *sys.argv[1:]]
runpy.run_module("jaxsr.train", run_name="__main__", alter_sys=True)
"""


@pytest.mark.slow
def test_a_one_stage_report_waits_for_process_0s_model(tmp_path, data_dir):
    """One-stage N:M on 2 processes: every process reads `final_model` for the stage report,
    which process 0 writes. With process 0's write delayed by 4 s (it lost the race 1 time in
    2 before the barrier), the run still ends 0 with one report."""
    inject = tmp_path / "inject.py"
    inject.write_text(SLOW_SAVE)
    python = tmp_path / "python"
    python.write_text(  # `-m jaxsr.train ...` through the injection, anything else as is
        f'#!/bin/sh\nif [ "$1" = -m ]; then shift 2; set -- {inject} "$@"; fi\n'
        f'exec {sys.executable} "$@"\n'
    )
    python.chmod(0o755)
    work = tmp_path / "w"
    cmd = [
        str(LAUNCH),
        str(REPO / "tests" / "configs" / "tiny_nm.py") + ":nopre",
        str(work),
        f"--config.data.data_dir={data_dir}",
    ]
    env = {**_env(), "LOCAL_PROCESSES": "2", "PYTHON": str(python)}
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    logs = "".join(p.read_text()[-2000:] for p in sorted((work / "logs").glob("*.log")))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:] + logs
    rep = json.loads((work / "report.json").read_text())
    assert rep["sparsity"] == pytest.approx(0.5, abs=0.01)


def test_a_refused_run_says_so_once(tmp_path):
    """Bad config on 2 processes: exit 2 and one `error:` line, no launcher notice, no
    "Killed" line from the shell (each process refuses alike; the launcher lets them exit)."""
    cmd = [str(LAUNCH), str(TINY), str(tmp_path / "w"), "--config.train.steps=-1"]
    env = {**_env(), "LOCAL_PROCESSES": "2"}
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    assert r.returncode == 2 and lines == ["error: train.steps=-1 must be >= 0"], lines
