"""Fault injection: divergence, damaged checkpoints, kills, Ctrl-C, leftovers, bad arguments.

Each case asserts the exit code (or exception), the one-line message and the files left
behind. Real subprocesses are used where a process boundary matters (signals, CLI output).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import stat
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxsr import model_dir, models, nonfinite, train
from jaxsr.checkpoints import CheckpointError
from jaxsr.cli import config_from_flags, error_line
from jaxsr.configs_lib import load_sibling
from jaxsr.metric_writer import read_metrics
from jaxsr.train import stages

from .conftest import REPO, complete_lines, sigkill_at_step, with_overrides

TINY = REPO / "tests" / "configs" / "tiny.py"
SAMPLES = REPO / "jaxsr" / "data" / "samples"


def _tiny(data_dir, **over):
    c = load_sibling(str(TINY), "tiny.py").get_config()
    return with_overrides(c, **{"data.data_dir": str(data_dir), **over})


def _params(directory: Path):
    _, params, _ = model_dir.load_model(directory)
    return jax.tree.map(np.asarray, params)


def _assert_same(a, b):
    jax.tree.map(np.testing.assert_array_equal, a, b)


def _cli(module: str, *args: str, timeout: int = 300, **popen) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
        **popen,
    )


def _last_line(r: subprocess.CompletedProcess) -> str:
    return r.stderr.strip().splitlines()[-1]


def _no_traceback(r: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in r.stderr, r.stderr[-2000:]


def _train_args(workdir: Path, data_dir: Path, *extra: str) -> list[str]:
    return [
        f"--config={TINY}",
        f"--workdir={workdir}",
        f"--config.data.data_dir={data_dir}",
        *extra,
    ]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_dir) -> Path:
    """An uninterrupted 40-step tiny run (checkpoints every 10, keep 3)."""
    work = tmp_path_factory.mktemp("ref")
    train.fit(_tiny(data_dir, **{"train.steps": 40, "ckpt.keep": 3}), work, quiet=True)
    return work


# --- divergence ------------------------------------------------------------------------------


def test_divergence_stops_with_one_line_and_keeps_last_finite_checkpoint(tmp_path, data_dir):
    """lr jumps to 1e6 after step 10: the run must stop naming the step, keep the finite
    checkpoints, never write a non-finite best/final model, and exit 1."""
    work = tmp_path / "w"
    r = _cli(
        "jaxsr.train",
        *_train_args(
            work,
            data_dir,
            "--config.train.steps=40",
            "--config.optim.schedule=multistep",
            "--config.optim.milestones=(10,)",
            "--config.optim.gamma=1e9",
            "--config.train.log_every=5",
            "--config.ckpt.every=5",
            "--config.eval.every=5",
            "--config.eval.select=Demo/psnr_y",
        ),
    )
    assert r.returncode == 1, r.stderr[-2000:]
    _no_traceback(r)
    line = _last_line(r)
    assert line.startswith("error: non-finite loss/gradient/params at step 1"), line
    first_bad = int(line.split("at step ")[1].split()[0].rstrip(";"))
    assert 11 <= first_bad <= 15
    assert f"last finite checkpoint: step 10 in {work / 'checkpoints'}" in line
    steps = sorted(int(p.name) for p in (work / "checkpoints").iterdir() if p.name.isdigit())
    assert steps == [5, 10]  # nothing saved at or after the bad step
    assert not (work / "final_model").exists()
    best = _params(work / "best_model")  # loads: it is finite
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(best))
    assert json.loads((work / "best_model" / "jaxsr_model.json").read_text())["source"].endswith(
        ("step 5", "step 10")
    )
    logged = [r for r in read_metrics(work) if r["kind"] == "train"]
    assert logged[-1]["nonfinite"] >= 1 and logged[-1]["loss"] is None  # strict JSON: null
    # resuming the same (diverging) command starts from the last finite checkpoint
    r2 = _cli("jaxsr.train", *_train_args(work, data_dir, "--config.train.steps=12"))
    assert r2.returncode == 0, r2.stderr[-2000:]
    assert f"resumed from {work / 'checkpoints'}/10" in r2.stdout


def test_skip_policy_skips_exactly_and_counts(tmp_path, data_dir):
    """After step 10 the lr becomes 1e27: a few steps later every update is non-finite.
    `skip` must leave the params exactly where the last finite step left them (a run that
    stops just before the first bad step) and count the skips; past `max_nonfinite` it stops."""
    blow_up = {"optim.schedule": "step", "optim.step_size": 10, "optim.gamma": 1e30}
    cfg = _tiny(data_dir, **{"train.steps": 18, "train.nonfinite": "skip", **blow_up})
    res = train.fit(cfg, tmp_path / "skip", quiet=True)
    first = res["first_nonfinite"]
    assert 11 <= first <= 14 and res["nonfinite_skipped"] == 18 - first + 1
    before = train.fit(
        _tiny(data_dir, **{"train.steps": first - 1, **blow_up}), tmp_path / "ref", quiet=True
    )
    assert before["nonfinite_skipped"] == 0 and before["first_nonfinite"] == -1
    _assert_same(
        _params(tmp_path / "ref" / "final_model"), _params(tmp_path / "skip" / "final_model")
    )
    logged = {r["step"]: r for r in read_metrics(tmp_path / "skip") if r["kind"] == "train"}
    assert "nonfinite" not in logged[first - 1] and logged[18]["nonfinite"] == 18 - first + 1
    n = 18 - first + 1
    cfg = _tiny(
        data_dir,
        **{"train.steps": 18, "train.nonfinite": "skip", "train.max_nonfinite": n - 1, **blow_up},
    )
    with pytest.raises(
        nonfinite.Diverged, match=rf"{n} non-finite steps skipped \(first at step {first}\)"
    ):
        train.fit(cfg, tmp_path / "skip_max", quiet=True)
    assert not (tmp_path / "skip_max" / "final_model").exists()


def test_evaluate_refuses_nonfinite_params(data_dir, tmp_path):
    model = models.create("msrresnet", 2, num_feat=8, num_block=1)
    params = jax.tree.map(np.asarray, models.init_params(model, 0))
    params["conv_last"]["bias"] = params["conv_last"]["bias"].copy()
    params["conv_last"]["bias"][1] = np.nan
    d = model_dir.save_model(
        tmp_path / "nan_model", params, "msrresnet", 2, {"num_feat": 8, "num_block": 1}
    )
    r = _cli("jaxsr.evaluate", f"--weights={d}", f"--data={SAMPLES}", "--sets=Demo")
    assert r.returncode == 1
    _no_traceback(r)
    assert _last_line(r) == f"error: {d}: params contain NaN/Inf (conv_last/bias)"
    with pytest.raises(ValueError, match="contain NaN/Inf"):
        train.fit(_tiny(data_dir, **{"init_from": str(d)}), tmp_path / "w", quiet=True)


# --- damaged checkpoints ---------------------------------------------------------------------


def _damage_array_file(step_dir: Path) -> Path:
    """Truncate the largest array data file of a checkpoint step (as a full disk would)."""
    files = [p for p in (step_dir / "state").rglob("*") if p.is_file() and "d" in p.parts]
    victim = max(files, key=lambda p: p.stat().st_size)
    victim.write_bytes(victim.read_bytes()[:16])
    return victim


# Orbax leaves the read coroutines of the damaged checkpoint unawaited when its restore fails
# (by design here); Python reports them when they are collected, at a random later point.
def test_fallback_to_older_checkpoints(tmp_path, data_dir, reference, capsys):
    work = tmp_path / "w"
    train.fit(_tiny(data_dir, **{"train.steps": 30, "ckpt.keep": 3}), work, quiet=True)
    ck = work / "checkpoints"
    assert sorted(p.name for p in ck.iterdir() if p.name.isdigit()) == ["10", "20", "30"]
    _damage_array_file(ck / "30")
    (ck / "20" / "data" / "metadata").write_text("")  # an emptied JSON item
    res = train.fit(_tiny(data_dir, **{"train.steps": 40, "ckpt.keep": 3}), work, quiet=True)
    err = capsys.readouterr().err.strip().splitlines()
    warn = [ln for ln in err if ln.startswith("warning: checkpoint step")]
    assert len(warn) == 2, err
    assert warn[0].startswith("warning: checkpoint step 30 does not load (")
    assert warn[0].endswith(f"moved to {ck}.unreadable/30")
    assert warn[1].startswith("warning: checkpoint step 20 does not load (")
    assert res["resumed_from"] == 10
    assert sorted(p.name for p in Path(f"{ck}.unreadable").iterdir()) == ["20", "30"]
    # from step 10 on, the same data and updates: bit-identical to the uninterrupted run
    _assert_same(_params(reference / "final_model"), _params(work / "final_model"))


def test_no_loadable_checkpoint_is_one_line_listing_all(tmp_path, data_dir):
    work = tmp_path / "w"
    train.fit(_tiny(data_dir, **{"train.steps": 20}), work, quiet=True)
    for s in ("10", "20"):
        _damage_array_file(work / "checkpoints" / s)
    r = _cli("jaxsr.train", *_train_args(work, data_dir, "--config.train.steps=30"))
    assert r.returncode == 1
    _no_traceback(r)
    line = _last_line(r)
    assert line.startswith(f"error: {work / 'checkpoints'}: no checkpoint loads; tried step 20 (")
    assert "; step 10 (" in line and line.endswith(
        "nothing was moved: delete or move them to start this workdir from scratch"
    )
    # nothing moved: a rerun must not silently start from step 0
    assert (work / "checkpoints" / "20").is_dir() and (work / "checkpoints" / "10").is_dir()
    assert not (work / "checkpoints.unreadable").exists()


def test_config_mismatch_is_an_error_not_damage(tmp_path, data_dir):
    work = tmp_path / "w"
    train.fit(_tiny(data_dir, **{"train.steps": 10}), work, quiet=True)
    with pytest.raises(CheckpointError, match=r"/10: does not match this config's train state"):
        train.fit(_tiny(data_dir, **{"train.steps": 20, "optim.ema_decay": 0.5}), work, quiet=True)
    assert (work / "checkpoints" / "10").is_dir() and not (work / "checkpoints.unreadable").exists()


def test_run_killed_after_its_last_checkpoint_finishes_on_rerun(tmp_path, data_dir):
    """All steps done, outputs missing (a kill while writing final_model): the rerun writes
    them from the last checkpoint instead of failing."""
    work = tmp_path / "w"
    train.fit(_tiny(data_dir, **{"train.steps": 20, "eval.every": 10}), work, quiet=True)
    ref = _params(work / "final_model")
    ev = json.loads((work / "summary.json").read_text())["final_eval"]
    shutil.rmtree(work / "final_model")
    (work / "summary.json").unlink()
    res = train.fit(_tiny(data_dir, **{"train.steps": 20, "eval.every": 10}), work, quiet=True)
    assert res["resumed_from"] == 20 and res["final_eval"] == ev
    _assert_same(ref, _params(work / "final_model"))


def test_interrupted_model_overwrite_is_recovered(tmp_path):
    """A kill between save_model's two renames leaves `.best_model.old-PID` and no
    `best_model`: the next start puts the complete old copy back."""
    params = {"w": np.arange(3, dtype=np.float32)}
    d = model_dir.save_model(tmp_path / "best_model", params, "msrresnet", 2)
    d.rename(tmp_path / ".best_model.old-4242")
    (tmp_path / ".best_model.tmp-abc").mkdir()
    model_dir.remove_stale_tmp(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best_model"]
    assert model_dir.read_meta(tmp_path / "best_model")["model"] == "msrresnet"


# --- kills, Ctrl-C, leftovers ----------------------------------------------------------------


def _events(tb_dir: Path) -> tuple[int, list[tuple[str, int]]]:
    """(number of event files, [(tag, step)] of all scalars), parsed from TFRecord framing."""
    from tensorboardX.proto import event_pb2

    files = sorted(tb_dir.glob("events.out.tfevents.*"))
    out = []
    for f in files:
        buf, i = f.read_bytes(), 0
        while i < len(buf):
            (n,) = struct.unpack("<Q", buf[i : i + 8])
            ev = event_pb2.Event.FromString(buf[i + 12 : i + 12 + n])
            i += 12 + n + 4
            out += [(v.tag, ev.step) for v in ev.summary.value]
    return len(files), out


def test_kill_before_first_checkpoint_no_duplicate_logs_or_events(tmp_path, data_dir, capsys):
    work = tmp_path / "w"
    args = _train_args(work, data_dir, "--config.train.steps=25", "--config.tensorboard=True")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jaxsr.train", *args],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sigkill_at_step(proc, work / "metrics.jsonl", 3)
    assert not [p for p in (work / "checkpoints").iterdir() if p.name.isdigit()]
    # what a kill inside a model save leaves behind (save_model's temporary directory)
    (work / ".best_model.tmp-x1y2").mkdir()
    (work / ".best_model.tmp-x1y2" / "half").write_text("partial")
    # the same command again, in-process (the CLI's own rerun: the full-disk test below)
    train.fit(_tiny(data_dir, **{"train.steps": 25, "tensorboard": True}), work, quiet=True)
    assert "removed .best_model.tmp-x1y2, left by an interrupted save" in capsys.readouterr().err
    assert not list(work.glob(".*.tmp-*"))
    steps = [rec["step"] for rec in read_metrics(work) if rec["kind"] == "train"]
    assert steps == list(range(1, 26))
    n_files, scalars = _events(work / "tensorboard")
    assert n_files == 1
    loss_steps = [s for tag, s in scalars if tag == "train/loss"]
    assert loss_steps == list(range(1, 26))


def test_ctrl_c_saves_and_resumes_exactly(tmp_path, data_dir, reference):
    work = tmp_path / "w"
    args = _train_args(work, data_dir, "--config.train.steps=40", "--config.ckpt.keep=3")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jaxsr.train", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 300
    metrics = work / "metrics.jsonl"
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(complete_lines(metrics)) >= 13:
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.01)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith("interrupted: SIGINT at step ")
    at = int(line.split("at step ")[1].split(":")[0])
    assert 13 <= at < 40
    assert line.endswith(
        f"checkpoint saved in {work / 'checkpoints'}/{at}; rerun the same command to resume"
    )
    assert (work / "checkpoints" / str(at)).is_dir() and not (work / "final_model").exists()
    res = train.fit(_tiny(data_dir, **{"train.steps": 40, "ckpt.keep": 3}), work, quiet=True)
    assert res["resumed_from"] == at  # the same command again, in-process
    _assert_same(_params(reference / "final_model"), _params(work / "final_model"))
    steps = [rec["step"] for rec in read_metrics(work) if rec["kind"] == "train"]
    assert steps == list(range(1, 41))


def test_model_dirs_get_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        d = model_dir.save_model(tmp_path / "m", {"w": np.ones(3, np.float32)}, "msrresnet", 2)
    finally:
        os.umask(old)
    assert stat.S_IMODE(d.stat().st_mode) == 0o755
    for p in d.rglob("*"):
        assert stat.S_IMODE(p.stat().st_mode) & 0o044 == 0o044, p  # readable by group/others


# --- arguments first ---------------------------------------------------------------------------

_TRAIN_BAD = [
    (
        ["--config.train.stepz=3"],
        "error: --config.train.stepz: unknown config key 'stepz'; did you mean 'steps'?",
        2,
    ),
    (
        ["--config.trian.steps=3"],
        "error: --config.trian.steps: unknown config key 'trian'; did you mean 'train'?",
        2,
    ),
    (  # no close match: ml_collections alone said just "'qqq'"
        ["--config.train.qqq=3"],
        "error: --config.train.qqq: unknown config key 'qqq' in train (known: log_every, "
        "loss, max_nonfinite, nonfinite, steps)",
        2,
    ),
    (["--config.train.steps=-2"], "error: train.steps=-2 must be >= 0", 2),
    (["--config.eval.every=0"], "error: eval.every=0 must be > 0", 2),
    (["--config.data.batch_size=0"], "error: data.batch_size=0 must be > 0", 2),
    (
        ["--config.eval.select=Demo/psnr"],
        "error: eval.select='Demo/psnr' is not an eval metric; expected one of "
        "['Demo/psnr_y', 'Demo/ssim_y', 'Demo/psnr_rgb']",
        2,
    ),
    (
        ["--config.train.nonfinite=ignore"],
        "error: train.nonfinite='ignore'; known: ['stop', 'skip']",
        2,
    ),
]


@pytest.mark.parametrize("extra,message,code", _TRAIN_BAD)
def test_train_rejects_bad_config_before_compute(tmp_path, extra, message, code):
    """What `jaxsr.train` checks before anything is written, in this process: its flags
    parsed as the CLI parses them (`cli.config_from_flags`), then `stages.check_only`."""
    work = tmp_path / "w"
    args = _train_args(work, tmp_path / "tfds", *extra)
    with pytest.raises(ValueError) as e:
        stages.check_only(config_from_flags(args), work)
    assert f"error: {error_line(e.value)}" == message
    assert not work.exists() and not (tmp_path / "tfds").exists()  # nothing computed or written


def test_train_cli_exits_2_on_a_bad_key_or_value_with_nothing_written(tmp_path):
    """The same checks through the CLI (exit code, one line, no traceback): one key, one value."""
    for extra, message, code in (_TRAIN_BAD[0], _TRAIN_BAD[3]):
        work = tmp_path / "w"
        r = _cli("jaxsr.train", *_train_args(work, tmp_path / "tfds", *extra))
        assert (r.returncode, _last_line(r)) == (code, message), r.stderr[-2000:]
        _no_traceback(r)
        assert not work.exists() and not (tmp_path / "tfds").exists()


def test_train_rejects_bad_workdirs_and_stale_step_counts(tmp_path, data_dir):
    f = tmp_path / "afile"
    f.write_text("x")
    r = _cli("jaxsr.train", *_train_args(f, data_dir))
    assert (r.returncode, _last_line(r)) == (
        2,
        f"error: workdir={f}: exists and is not a directory",
    )
    r = _cli("jaxsr.train", *_train_args(f / "w", data_dir))
    assert r.returncode == 2
    assert _last_line(r).startswith(f"error: workdir={f / 'w'}: cannot create (")
    _no_traceback(r)


def test_fewer_steps_than_the_checkpoint_is_an_error(tmp_path, data_dir, reference):
    with pytest.raises(
        ValueError, match=r"train.steps=30 but .* already has a checkpoint at step 40"
    ):
        train.fit(_tiny(data_dir, **{"train.steps": 30}), reference, quiet=True)
    r = _cli("jaxsr.train", *_train_args(tmp_path / "w", data_dir, "--config.train.steps=-1"))
    assert _last_line(r) == "error: train.steps=-1 must be >= 0"


def test_evaluate_checks_arguments_before_compute(tmp_path):
    base = ["--model=bicubic", "--scale=2", f"--data={SAMPLES}"]
    (tmp_path / "adir").mkdir()
    cases = [
        (
            [f"--json={tmp_path / 'adir'}", "--sets=Demo"],
            f"error: --json={tmp_path / 'adir'}: is a directory, expected a file path",
        ),
        (
            ["--sets=Demo, Nope"],
            f"error: --sets: no {SAMPLES}/<set>/HR folder for ['Nope']; found ['Demo']",
        ),
        (["--sets="], "error: --sets='': expected comma-separated set names, e.g. Set5,Set14"),
        (["--sets=Demo", "--tile=0"], "error: --tile=0 must be > 0"),
    ]
    for extra, message in cases:
        r = _cli("jaxsr.evaluate", *base, *extra)
        assert (r.returncode, _last_line(r)) == (2, message), r.stderr[-1500:]
        assert "==" not in r.stdout  # no set was computed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir"]  # no leftovers
    out = tmp_path / "res.json"
    r = _cli("jaxsr.evaluate", *base, "--sets= Demo ", f"--json={out}")
    assert r.returncode == 0, r.stderr[-1500:]
    assert list(json.loads(out.read_text())["sets"]) == ["Demo"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "res.json"]


def test_convert_checks_arguments_first(tmp_path):
    r = _cli(
        "jaxsr.convert", "--model=rfdn", f"--torch={tmp_path / 'no.pth'}", f"--out={tmp_path / 'o'}"
    )
    assert (r.returncode, _last_line(r)) == (
        2,
        f"error: --torch={tmp_path / 'no.pth'}: no such file",
    )
    assert list(tmp_path.iterdir()) == []


# --- data: stale builds, 16-bit images -------------------------------------------------------


def test_changed_training_image_is_seen_by_the_next_run(tmp_path, capfd):
    """The trainer's data entry (`load_train_pairs`, what every run calls before its first
    step) rebuilds a changed folder, saying why, and reuses an unchanged one."""
    from PIL import Image

    from jaxsr.train.loop import load_train_pairs

    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("astronaut.png", "coffee.png"):
        Image.open(SAMPLES / "train" / name).crop((0, 0, 96, 96)).save(folder / name)
    cfg = load_sibling(str(TINY), "tiny.py").get_config()
    cfg.data.train.splits = {"train": [(str(folder), None)]}
    cfg.data.data_dir = str(tmp_path / "tfds")

    def load():
        pairs = load_train_pairs(cfg, cfg.model.scale)
        return dict(zip(pairs.names, pairs.hr, strict=True)), capfd.readouterr().err

    first, err = load()
    assert "(first build)" in err
    time.sleep(0.01)  # a new mtime even on coarse clocks
    rocket = Image.open(SAMPLES / "train" / "rocket.jpg").crop((0, 0, 96, 96))
    rocket.save(folder / "coffee.png")
    second, err = load()
    assert "sr_folder: rebuilding (train: 1 changed: coffee.png" in err
    assert first.keys() == second.keys() == {"astronaut", "coffee"}, first.keys()
    np.testing.assert_array_equal(second["astronaut"], first["astronaut"])
    np.testing.assert_array_equal(second["coffee"], np.asarray(rocket.convert("RGB")))
    third, err = load()
    assert "rebuilding" not in err and "first build" not in err  # unchanged: reused
    np.testing.assert_array_equal(third["coffee"], second["coffee"])


def test_16bit_gray_set_scores_like_its_8bit_twin(tmp_path):
    """A set stored as 16-bit gray PNGs evaluates exactly like the same set in 8 bits."""
    from PIL import Image

    g8 = np.asarray(Image.open(SAMPLES / "Demo" / "HR" / "chelsea.png").convert("L"))
    for name, img in (
        ("Gray8", Image.fromarray(g8)),
        ("Gray16", Image.fromarray(g8.astype(np.uint16) * 257)),
    ):
        (tmp_path / name / "HR").mkdir(parents=True)
        img.save(tmp_path / name / "HR" / "chelsea.png")
    assert Image.open(tmp_path / "Gray16" / "HR" / "chelsea.png").mode.startswith("I;16")
    out = tmp_path / "r.json"
    r = _cli(
        "jaxsr.evaluate",
        "--model=bicubic",
        "--scale=4",
        f"--data={tmp_path}",
        "--sets=Gray8,Gray16",
        f"--json={out}",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    sets = json.loads(out.read_text())["sets"]
    assert sets["Gray16"]["psnr_y"] == sets["Gray8"]["psnr_y"] > 25


def test_abandoned_orbax_shard_reads_are_not_printed(monkeypatch):
    """The other shard reads of a failed restore raise when their coroutines are collected;
    the CLI's hook drops exactly those (the fallback reports the failure in one line)."""
    import types

    from jaxsr import cli

    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    cli._drop_closed_loop_errors()

    async def _read_array_index_and_device_put():  # the name Orbax's coroutine has
        pass

    coro = _read_array_index_and_device_put()
    coro.close()
    err = Exception("Encountered error while reading array index: (slice(0, 8, 1),).")
    sys.unraisablehook(types.SimpleNamespace(exc_value=err, object=coro))
    assert seen == []
    other = types.SimpleNamespace(exc_value=err, object=object())  # anything else still shows
    sys.unraisablehook(other)
    assert seen == [other]


def test_records_of_orbax_errors_are_dropped_from_any_logger():
    """A failed restore's abandoned reads reach the log through asyncio when collected ("Task
    exception was never retrieved", with the Orbax traceback): such records are dropped like
    Orbax's own, which made the one-line error of a damaged workdir flaky in the full suite;
    other records with tracebacks are kept."""
    import logging

    from jaxsr import cli

    def record(path: str, exc_file: str | None):
        exc_info = None
        if exc_file:
            try:
                exec(compile("raise ValueError('OUT_OF_RANGE')", exc_file, "exec"))
            except ValueError:
                exc_info = sys.exc_info()
        return logging.LogRecord("asyncio", logging.ERROR, path, 1, "Task exception", (), exc_info)

    keep = cli._DropCheckpointLibraryLogs().filter
    site = "/venv/lib/python3.11/site-packages"
    assert not keep(record(f"{site}/orbax/checkpoint/_src/x.py", None))
    assert not keep(record(f"{site}/asyncio/base_events.py", f"{site}/orbax/checkpoint/s.py"))
    assert keep(record(f"{site}/asyncio/base_events.py", f"{site}/jaxsr/train/loop.py"))
    assert keep(record("/work/jaxsr/train/loop.py", None))
    coro = record(f"{site}/asyncio/base_events.py", None)
    coro.msg = f"Task exception was never retrieved\ncoro=<read() defined at {site}/orbax/s.py:3>"
    assert not keep(coro)


# --- checks before the expensive part --------------------------------------------------------


def test_plans_and_stage_models_are_checked_before_the_first_stage_trains(tmp_path, data_dir):
    """An L1 plan that cannot meet min_channels, and an estimator that cannot be built, used to
    fail only after their pretrain stage (99 s / 300 steps in the demos): now before it."""
    from .conftest import tiny_config

    l1 = with_overrides(
        tiny_config("tiny_l1", None, data_dir), **{"l1.min_channels": 1000, "l1.target": 0.5}
    )
    with pytest.raises(ValueError, match=r"l1.min_channels=1000: MACs budget .* min_channels"):
        train.run(l1, tmp_path / "l1", quiet=True)
    assert not (tmp_path / "l1" / "pretrain").exists()
    adaptive = load_sibling(str(REPO / "configs" / "adaptive.py"), "adaptive.py").get_config("demo")
    adaptive.model.overrides = {**dict(adaptive.model.overrides), "features": 0}
    with pytest.raises(ValueError, match=r"model: mse_estimator .* cannot be built .*Zero"):
        train.run(adaptive, tmp_path / "ad", quiet=True)
    assert not (tmp_path / "ad").exists() or not any((tmp_path / "ad").iterdir())


def test_a_later_stage_failing_its_start_keeps_the_finished_stages(tmp_path, data_dir, monkeypatch):
    """The finetune stage of an L1 run fails at its start (a check needing trained weights):
    the pretrain stage stays finished, and the rerun with a corrected L1 value continues from
    it instead of being refused; a changed value that the pretrain used is still refused."""
    from jaxsr.methods import l1_filter

    from .conftest import tiny_config

    cfg = tiny_config("tiny_l1", None, data_dir)
    real = l1_filter._start

    def failing(ctx):
        raise ValueError("l1: plan rejected after pretraining")

    monkeypatch.setattr(l1_filter, "_start", failing)
    work = tmp_path / "w"
    with pytest.raises(ValueError, match="plan rejected"):
        train.run(cfg, work, quiet=True)
    done = (work / "pretrain" / "report.json").stat().st_mtime_ns
    monkeypatch.setattr(l1_filter, "_start", real)
    bad = with_overrides(tiny_config("tiny_l1", None, data_dir), **{"seed": 7})
    with pytest.raises(ValueError, match=r"was started with seed=0, not 7"):
        train.run(bad, work, quiet=True)
    fixed = with_overrides(tiny_config("tiny_l1", None, data_dir), **{"l1.target": 0.6})
    reports = train.run(fixed, work, quiet=True)
    assert [r["stage"] for r in reports] == ["pretrain", "finetune"]
    assert (work / "pretrain" / "report.json").stat().st_mtime_ns == done  # not retrained
    assert json.loads((work / "recipe.json").read_text())["l1"]["target"] == 0.6
    # now finetune has started: its values are fixed again
    with pytest.raises(ValueError, match=r"was started with l1.target=0.6, not 0.7"):
        train.run(
            with_overrides(tiny_config("tiny_l1", None, data_dir), **{"l1.target": 0.7}),
            work,
            quiet=True,
        )


# --- exit codes --------------------------------------------------------------------------------

CLIS = (
    "jaxsr.train",
    "jaxsr.evaluate",
    "jaxsr.upscale",
    "jaxsr.experiment",
    "jaxsr.convert",
    "jaxsr.complexity",
    "jaxsr.report",
    "jaxsr.weight_stats",
)


def test_every_cli_exits_2_with_one_line_on_a_bad_argument():
    """The exit codes of `jaxsr.cli` (0 done, 1 failed while running, 2 bad input, 130
    interrupted): an unknown flag is 2 and one `error:` line in every CLI (absl's parser
    exited 1 after a usage dump; results_md took it for a path and raised)."""
    procs = {
        m: subprocess.Popen(
            [sys.executable, "-m", m, "--nope=1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for m in CLIS
    }
    for m, p in procs.items():
        _, err = p.communicate(timeout=300)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert p.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), (m, err)
        assert "nope" in lines[0], (m, err)


# --- storage ------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 300 KiB tmpfs (root and mount rights needed, else the test skips), unmounted after."""
    d = tmp_path / "disk"
    d.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(d)], capture_output=True, text=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({r.stderr.strip() or 'mount failed'})")
    yield d
    subprocess.run(["umount", "-l", str(d)], capture_output=True)


def test_a_full_disk_is_one_line_naming_the_last_good_checkpoint(small_disk, data_dir, reference):
    """The workdir's disk fills at the step-20 checkpoint: one line (no Orbax logs, no
    tracebacks) naming the workdir and step 10; with space freed the rerun resumes at 10 and
    ends bit-identical to the uninterrupted run."""
    work = small_disk / "w"
    args = _train_args(work, data_dir, "--config.train.steps=40")
    r = _cli("jaxsr.train", *args)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith("train:")]
    assert r.returncode == 1 and lines == [
        f"error: {work}: No space left on device; last complete checkpoint: step 10 "
        f"({work}/checkpoints/10); free space (or fix the mount) and rerun the same command "
        "to resume"
    ], r.stderr[-3000:]
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
    r = _cli("jaxsr.train", *args)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"resumed from {work / 'checkpoints'}/10" in r.stdout
    _assert_same(_params(reference / "final_model"), _params(work / "final_model"))


def test_storage_errnos_are_found_in_chained_errors():
    from jaxsr import files

    for code in (errno.ENOSPC, errno.EROFS, errno.EDQUOT):
        try:
            try:
                raise OSError(code, os.strerror(code))
            except OSError as inner:
                raise RuntimeError("commit failed in a background thread") from inner
        except RuntimeError as e:
            assert files.storage_errno(e) == code
    assert files.storage_errno(OSError(errno.ENOENT, "x")) is None
    # TensorStore's form (seen from Orbax on a full tmpfs): a ValueError with the code in text
    ts = ValueError(
        'RESOURCE_EXHAUSTED: Error writing "k" in OCDBT database at local file "/w/": Failed '
        "to write 7915 bytes to file 7: No space left on device [os_error_code='28']"
    )
    assert files.storage_errno(ts) == errno.ENOSPC
    assert files.storage_errno(ValueError("OUT_OF_RANGE: [os_error_code='2']")) is None


def test_a_stage_without_evaluation_prints_no_best(tmp_path, data_dir, capsys):
    """The estimator stage of an adaptive run evaluates nothing: its done line used to end
    in 'best  -inf @ -1'; with evaluation the best is still printed."""
    no_eval = {"train.steps": 2, "eval.sets": (), "eval.select": ""}
    train.fit(_tiny(data_dir, **no_eval), tmp_path / "a")
    out = capsys.readouterr().out
    done = [ln for ln in out.splitlines() if ln.startswith("done:")]
    assert len(done) == 1 and "best" not in done[0] and "inf" not in done[0], out
    train.fit(_tiny(data_dir, **{"train.steps": 2, "eval.every": 2}), tmp_path / "b")
    done = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("done:")]
    assert len(done) == 1 and re.search(r"; best \S+ \d+\.\d{3} @ 2;", done[0]), done
