"""The trainer's config checks, run before any compute (one-line errors naming the key):
its own keys (steps, checkpoints, batch and patch sizes, optimizer, non-finite policy,
`init_from`) and each section's checks, owned by the layer that reads it
(`models.check_builds`, `tfds_builders.check_config`, `evaluation.check_config`,
`losses.check`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jaxsr import evaluation, losses, methods, models, nonfinite, optim
from jaxsr.configs_lib import check_positive
from jaxsr.data import tfds_builders


def check_train_config(cfg: Any) -> None:
    """Everything about a training config that can be checked without loading data."""

    models.check_builds(cfg.model, int(cfg.model.scale), "model")
    kind, method = models.spec(cfg.model.name).kind, methods.spec(cfg.get("method", "dense"))
    if kind != method.model_kind:
        trains = [s for s in map(methods.spec, methods.known()) if s.model_kind == kind]
        raise ValueError(
            f"model.name={cfg.model.name!r} is an {kind} model, config.method={method.name!r} "
            f"trains {method.model_kind} models"
            + (f": train it with {trains[0].config} (method {trains[0].name})" if trains else "")
        )
    scale = int(cfg.model.scale)
    check_positive(cfg, "train.steps", allow_zero=True)  # 0: export the start point untrained
    for key in (
        "train.log_every",
        "ckpt.every",
        "ckpt.keep",
        "data.batch_size",
        "data.hr_patch",
        "data.num_threads",
    ):
        check_positive(cfg, key)
    for key in ("optim.lr", "data.prefetch", "optim.clip_norm", "optim.ema_decay"):
        check_positive(cfg, key, allow_zero=True)
    if int(cfg.data.hr_patch) % scale:
        raise ValueError(
            f"data.hr_patch={cfg.data.hr_patch} is not a multiple of the scale {scale}"
        )
    if not 0 <= float(cfg.optim.ema_decay) < 1:
        raise ValueError(f"optim.ema_decay={cfg.optim.ema_decay} must be in [0, 1)")

    losses.check(cfg.train.loss)
    policy = cfg.train.get("nonfinite", "stop")
    if policy not in nonfinite.POLICIES:
        raise ValueError(f"train.nonfinite={policy!r}; known: {list(nonfinite.POLICIES)}")
    if int(cfg.train.get("max_nonfinite", 0)) < 0:
        raise ValueError(f"train.max_nonfinite={cfg.train.max_nonfinite} must be >= 0")
    optim.make_optimizer(cfg.optim)  # unknown schedule, bad restart weights
    tfds_builders.check_config(cfg.data)
    evaluation.check_config(cfg.eval)
    src = cfg.get("init_from")
    if src and not (Path(src).is_dir() or (Path(src).is_file() and src.endswith(".pth"))):
        raise FileNotFoundError(f"init_from={src}: not a model directory or .pth file")
