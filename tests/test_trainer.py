"""Trainer: schedules, sharded == single-device, exact resume after SIGKILL, configs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jax
import ml_collections
import numpy as np
import optax
import pytest

from jaxsr import model_dir, optim, train
from jaxsr.checkpoints import Checkpointer
from jaxsr.metric_writer import read_metrics

from .conftest import REPO, with_overrides

TINY = REPO / "tests" / "configs" / "tiny.py"


def _load_config(path, arg=None):
    from jaxsr.configs_lib import load_sibling

    return load_sibling(str(path), path.name).get_config(arg)


def _tiny(**over):
    return with_overrides(_load_config(TINY), **over)


def _params(workdir: Path):
    _, params, _ = model_dir.load_model(workdir / "final_model")
    return jax.tree.map(np.asarray, params)


def test_schedules_hand_computed():
    c = ml_collections.ConfigDict(
        {"lr": 1.0, "schedule": "multistep", "milestones": (10, 20), "gamma": 0.5}
    )
    s = optim.make_schedule(c)
    assert [float(s(t)) for t in (0, 9, 10, 19, 20, 100)] == [1, 1, 0.5, 0.5, 0.25, 0.25]
    c = ml_collections.ConfigDict({"lr": 2.0, "schedule": "step", "step_size": 5, "gamma": 0.1})
    s = optim.make_schedule(c)
    assert float(s(4)) == 2.0 and float(s(5)) == pytest.approx(0.2)
    c = ml_collections.ConfigDict(
        {
            "lr": 1.0,
            "schedule": "cosine_restarts",
            "periods": (10, 20),
            "restart_weights": (1.0, 0.5),
            "eta_min": 0.1,
        }
    )
    s = optim.make_schedule(c)
    assert float(s(0)) == pytest.approx(1.0)
    assert float(s(5)) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * 0.5)))
    assert float(s(10)) == pytest.approx(0.5)  # restart at weight 0.5
    assert float(s(20)) == pytest.approx(0.1 + 0.4 * 0.5 * (1 + np.cos(np.pi * 0.5)))
    with pytest.raises(ValueError, match="unknown optim.schedule 'nope'"):
        optim.make_schedule(ml_collections.ConfigDict({"lr": 1.0, "schedule": "nope"}))


def test_train_writes_logs_checkpoints_and_resumes_in_process(data_dir, tmp_path):
    data_dir = str(data_dir)
    full = train.fit(
        _tiny(**{"data.data_dir": data_dir, "train.steps": 30}), tmp_path / "a", quiet=True
    )
    assert full["steps"] == 30 and full["resumed_from"] is None
    recs = read_metrics(tmp_path / "a")
    assert [r["step"] for r in recs if r["kind"] == "train"] == list(range(1, 31))
    assert sorted(
        int(p.name) for p in (tmp_path / "a" / "checkpoints").iterdir() if p.name.isdigit()
    ) == [20, 30]  # keep=2
    # stop at 20, then continue to 30 in a new call: identical params
    train.fit(_tiny(**{"data.data_dir": data_dir, "train.steps": 20}), tmp_path / "b", quiet=True)
    res = train.fit(
        _tiny(**{"data.data_dir": data_dir, "train.steps": 30}), tmp_path / "b", quiet=True
    )
    assert res["resumed_from"] == 20
    jax.tree.map(np.testing.assert_array_equal, _params(tmp_path / "a"), _params(tmp_path / "b"))

    def losses(w):
        return [(r["step"], r["loss"]) for r in read_metrics(w) if r["kind"] == "train"]

    assert losses(tmp_path / "a") == losses(tmp_path / "b")  # same per-step losses, no duplicates


def test_eval_and_best_model(data_dir, tmp_path):
    res = train.fit(
        _tiny(
            **{
                "data.data_dir": str(data_dir),
                "train.steps": 20,
                "eval.every": 10,
                "eval.select": "Demo/psnr_y",
            }
        ),
        tmp_path / "w",
        quiet=True,
    )
    evals = [r for r in read_metrics(tmp_path / "w") if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [10, 20]
    assert 15 < evals[-1]["Demo/psnr_y"] < 40
    assert res["best"]["step"] in (10, 20)
    assert (tmp_path / "w" / "best_model" / "jaxsr_model.json").is_file()


def test_named_steps_survive_rotation(tmp_path):
    ck = Checkpointer(tmp_path / "c", every=5, keep=1, keep_steps=(3,), async_save=False)
    state = {"w": np.arange(3.0)}
    for step in range(1, 16):
        ck.save(step, state, {"i": step}, {})
    ck.wait()
    assert ck.all_steps() == [3, 15]
    ck.close()


def test_partial_checkpoint_is_ignored(data_dir, tmp_path):
    data_dir = str(data_dir)
    train.fit(_tiny(**{"data.data_dir": data_dir, "train.steps": 10}), tmp_path / "w", quiet=True)
    junk = tmp_path / "w" / "checkpoints" / "20.orbax-checkpoint-tmp-1700000000"
    junk.mkdir()
    (junk / "garbage").write_text("half-written")
    res = train.fit(
        _tiny(**{"data.data_dir": data_dir, "train.steps": 12}), tmp_path / "w", quiet=True
    )
    assert res["resumed_from"] == 10


def test_dense_config_is_the_paper_recipe():
    def get_config(arg=None):
        return _load_config(REPO / "configs" / "dense.py", arg)

    c = get_config()
    assert (c.model.name, c.model.scale, c.data.hr_patch, c.data.batch_size) == (
        "msrresnet",
        4,
        96,
        16,
    )
    assert (c.optim.lr, c.optim.b1, c.optim.b2, c.optim.eps) == (1e-4, 0.9, 0.999, 1e-9)
    assert c.train.loss == "mse" and c.optim.schedule == "constant"
    assert c.data.train.builder == "div2k" and c.eval.sets == ("Set5", "Set14", "B100")
    assert get_config("shared").data.train.builder == "sr_folder"
    demo = get_config("demo")
    assert "samples" in demo.data.train.splits["train"][0][0]
    with pytest.raises(ValueError, match="unknown variant"):
        get_config("nope")


def test_cli_override_and_bad_input(data_dir, tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "jaxsr.train",
            f"--config={TINY}",
            f"--workdir={tmp_path / 'w'}",
            f"--config.data.data_dir={data_dir}",
            "--config.train.loss=huber",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert r.returncode != 0
    assert (
        r.stderr.strip().splitlines()[-1]
        == "error: unknown train.loss 'huber'; known: ['l1', 'mse']"
    )


def test_init_from_model_dir(data_dir, tmp_path):
    data_dir = str(data_dir)
    train.fit(_tiny(**{"data.data_dir": data_dir, "train.steps": 5}), tmp_path / "a", quiet=True)
    c = _tiny(
        **{
            "data.data_dir": data_dir,
            "train.steps": 2,
            "optim.lr": 0.0,
            "init_from": str(tmp_path / "a" / "final_model"),
        }
    )
    train.fit(c, tmp_path / "b", quiet=True)
    jax.tree.map(np.testing.assert_array_equal, _params(tmp_path / "a"), _params(tmp_path / "b"))
    with pytest.raises(FileNotFoundError, match="init_from=.*nowhere"):
        train.fit(
            _tiny(**{"data.data_dir": data_dir, "init_from": str(tmp_path / "nowhere")}),
            tmp_path / "c",
            quiet=True,
        )


def test_ema_tensorboard_and_clipping(data_dir, tmp_path):
    data_dir = str(data_dir)
    base = {"data.data_dir": data_dir, "train.steps": 6, "tensorboard": True}
    train.fit(_tiny(**base), tmp_path / "plain", quiet=True)
    train.fit(_tiny(**base, **{"optim.ema_decay": 0.5}), tmp_path / "ema", quiet=True)
    plain, ema = _params(tmp_path / "plain"), _params(tmp_path / "ema")
    # same raw trajectory; the EMA model (used for eval and final_model) lags behind it
    k = ("body_0", "conv1", "kernel")
    assert not np.array_equal(plain[k[0]][k[1]][k[2]], ema[k[0]][k[1]][k[2]])
    assert list((tmp_path / "plain" / "tensorboard").glob("events.out.tfevents.*"))
    # clipping comes first in the chain and equals optax's own clip + adam
    c = ml_collections.ConfigDict(
        {"lr": 1e-3, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "schedule": "constant", "clip_norm": 0.1}
    )
    tx = optim.make_optimizer(c)
    ref = optax.chain(optax.clip_by_global_norm(0.1), optax.adam(1e-3))
    p = {"w": np.ones(4, np.float32)}
    g = {"w": np.array([3.0, -4.0, 0.5, 0.0], np.float32)}
    u1, _ = tx.update(g, tx.init(p), p)
    u2, _ = ref.update(g, ref.init(p), p)
    np.testing.assert_allclose(u1["w"], u2["w"], rtol=1e-6)
