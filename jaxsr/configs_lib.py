"""Shared pieces of the config files in `configs/` (kept importable and tested)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ml_collections

SAMPLES = Path(__file__).resolve().parent / "data" / "samples"


def base_config() -> ml_collections.ConfigDict:
    """Defaults every training config starts from."""
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.workdir = ""
    c.distributed = False  # join JAX's distributed runtime (jaxsr/distributed.py)
    # unset fields come from $JAX_COORDINATOR_ADDRESS, $JAX_NUM_PROCESSES, $JAX_PROCESS_ID or
    # JAX's cluster detection (TPU pods, SLURM, Open MPI)
    c.cluster = ml_collections.ConfigDict(
        {
            "coordinator": "",  # host:port of process 0
            "num_processes": 0,
            "process_id": -1,
            "cpu_collectives": "gloo",  # CPU devices across processes: gloo | mpi
            "heartbeat_timeout_s": 100,  # the others give up on a dead process after this
        }
    )
    c.init_from = ""  # model dir (jaxsr.convert / best_model) or a .pth file
    c.tensorboard = True
    c.method = "dense"

    c.model = ml_collections.ConfigDict({"name": "msrresnet", "scale": 4, "overrides": {}})

    c.data = ml_collections.ConfigDict()
    c.data.data_dir = ""  # TFDS data dir; default $TFDS_DATA_DIR or ~/tensorflow_datasets
    c.data.train = ml_collections.ConfigDict()  # {builder, split, ...builder config fields}
    c.data.hr_patch = 96
    c.data.batch_size = 16
    c.data.augment = True
    c.data.skip_small = True  # leave out (with a warning) images smaller than the HR patch
    c.data.num_threads = 2
    c.data.prefetch = 8

    c.optim = ml_collections.ConfigDict()
    c.optim.lr = 1e-4
    c.optim.b1 = 0.9
    c.optim.b2 = 0.999
    c.optim.eps = 1e-8
    c.optim.schedule = "constant"  # constant | step | multistep | cosine_restarts
    c.optim.step_size = 200_000
    c.optim.gamma = 0.5
    c.optim.milestones = ()
    c.optim.periods = ()
    c.optim.restart_weights = ()
    c.optim.eta_min = 0.0
    c.optim.clip_norm = 0.0  # > 0: clip_by_global_norm
    c.optim.ema_decay = 0.0  # > 0: keep an EMA of params, used for eval and the final model

    c.train = ml_collections.ConfigDict({"steps": 1000, "loss": "l1", "log_every": 100})
    # a non-finite loss/gradient/param: "stop" (one-line error, nothing saved after the last
    # finite checkpoint) or "skip" the update (at most max_nonfinite times); jaxsr.nonfinite
    c.train.nonfinite = "stop"
    c.train.max_nonfinite = 100
    c.eval = ml_collections.ConfigDict({"root": "", "sets": (), "every": 1000, "select": ""})
    c.ckpt = ml_collections.ConfigDict({"every": 1000, "keep": 3, "keep_steps": (), "async": True})
    c.mesh = ml_collections.ConfigDict({"num_devices": 0})  # 0: all devices
    return c


def demo_data(c: ml_collections.ConfigDict) -> None:
    """Train on the embedded sample images, evaluate on the held-out sample 'Demo' set."""
    c.data.train = ml_collections.ConfigDict(
        {
            "builder": "sr_folder",
            "split": "train",
            "splits": {"train": [(str(SAMPLES / "train"), None)]},
        }
    )
    c.eval.root = str(SAMPLES)
    c.eval.sets = ("Demo",)
    c.eval.select = "Demo/psnr_y"


def shared_train_data(c: ml_collections.ConfigDict) -> None:
    """Train on ../shared/data/train: T91 + BSD200 + General100 HR (LR made by the builder)."""
    root = shared_dir() / "data" / "train"
    c.data.train = {
        "builder": "sr_folder",
        "split": "train",
        "splits": {
            "train": [(str(root / s / "HR"), None) for s in ("T91", "BSD200", "General100")]
        },
    }


def load_sibling(this_file: str, name: str):
    """Import another config file of the same folder by path (works from any cwd)."""
    import importlib.util

    path = Path(this_file).resolve().with_name(name)
    spec = importlib.util.spec_from_file_location(f"jaxsr_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shared_dir() -> Path:
    """`$JAXSR_SHARED` or `../shared` next to the repository."""
    import os

    env = os.environ.get("JAXSR_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


def parse_arg(arg: str | None, **defaults: Any) -> ml_collections.ConfigDict:
    """Variant arguments of a config file, big_vision style: `file.py:model=rfdn,n=2,demo`.

    `key=value` is converted to the type of `defaults[key]`; a bare `key` means True. Unknown
    keys and unconvertible values are one-line ValueErrors naming the key."""
    out = ml_collections.ConfigDict(defaults)
    for item in filter(None, (s.strip() for s in (arg or "").split(","))):
        key, eq, value = item.partition("=")
        if key not in defaults:
            known = ", ".join(sorted(defaults))
            raise ValueError(f"unknown config argument {key!r}; known: {known}")
        kind = type(defaults[key])
        if not eq:
            if kind is not bool:
                raise ValueError(f"config argument {key!r} needs a value ({key}=...)")
            out[key] = True
        elif kind is bool:
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"config argument {key}={value!r}: expected true or false")
            out[key] = value.lower() in ("true", "1")
        else:
            try:
                out[key] = kind(value)
            except ValueError:
                raise ValueError(
                    f"config argument {key}={value!r}: expected {kind.__name__}"
                ) from None
    return out


def check_positive(cfg: Any, key: str, allow_zero: bool = False, name: str = "") -> None:
    """`cfg[key]` (dotted) is a number > 0 (>= 0 with `allow_zero`); else a one-line error
    naming `name` (default `key`)."""
    node = cfg
    for part in key.split("."):
        node = node[part]
    try:
        value = float(node)
    except (TypeError, ValueError):
        raise ValueError(f"{name or key}={node!r} is not a number") from None
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name or key}={node!r} must be {'>= 0' if allow_zero else '> 0'}")
