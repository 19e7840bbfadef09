"""Training-config checks that run before any compute: one-line errors naming the key.

`check_train_config(cfg)` checks a training config (numbers in range, names known, paths
present, `eval.select` among the metrics the evaluation will produce);
`check_model_builds` traces a model config's shapes. All raise `ValueError`/
`FileNotFoundError` with a one-line message. Output paths: `jaxsr.files`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jaxsr import models, nonfinite, optim
from jaxsr.data import tfds_builders
from jaxsr.losses import LOSSES

EVAL_METRICS = ("psnr_y", "ssim_y", "psnr_rgb")


def _positive(cfg: Any, key: str, allow_zero: bool = False) -> None:
    node = cfg
    for part in key.split("."):
        node = node[part]
    try:
        value = float(node)
    except (TypeError, ValueError):
        raise ValueError(f"{key}={node!r} is not a number") from None
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{key}={node!r} must be {'>= 0' if allow_zero else '> 0'}")


def eval_keys(sets: Any) -> list[str]:
    """The metric names the in-training evaluation produces for `sets`."""
    return [f"{s}/{k}" for s in sets for k in EVAL_METRICS]


def check_model_builds(model_cfg: Any, scale: int, where: str) -> None:
    """The model of a config section (`name`, `overrides`) is created and its params traced
    (shapes only, no compute): a bad override fails here, before any stage trains."""

    overrides = dict(model_cfg.get("overrides", {}))
    model = models.create(model_cfg.name, scale, **overrides)
    try:
        models.abstract_params(model)
    except Exception as e:  # noqa: BLE001 - any failure of the model's own code
        msg = " ".join(str(e).split()) or "no message"
        raise ValueError(
            f"{where}: {model_cfg.name} with overrides {overrides} cannot be built "
            f"({type(e).__name__}: {msg})"
        ) from None


def check_train_config(cfg: Any) -> None:
    """Everything about a training config that can be checked without loading data."""

    check_model_builds(cfg.model, int(cfg.model.scale), "model")
    kind = models.spec(cfg.model.name).kind
    if kind != "sr" and cfg.get("method", "dense") != "mse_estimator":
        raise ValueError(
            f"model.name={cfg.model.name!r} is an {kind}, not an SR model: train it with "
            "configs/adaptive.py (method mse_estimator)"
        )
    scale = int(cfg.model.scale)
    _positive(cfg, "train.steps", allow_zero=True)  # 0: export the start point untrained
    for key in (
        "train.log_every",
        "ckpt.every",
        "ckpt.keep",
        "data.batch_size",
        "data.hr_patch",
        "data.num_threads",
    ):
        _positive(cfg, key)
    for key in ("optim.lr", "data.prefetch", "optim.clip_norm", "optim.ema_decay"):
        _positive(cfg, key, allow_zero=True)
    if int(cfg.data.hr_patch) % scale:
        raise ValueError(
            f"data.hr_patch={cfg.data.hr_patch} is not a multiple of the scale {scale}"
        )
    if not 0 <= float(cfg.optim.ema_decay) < 1:
        raise ValueError(f"optim.ema_decay={cfg.optim.ema_decay} must be in [0, 1)")

    if cfg.train.loss not in LOSSES:
        raise ValueError(f"unknown train.loss {cfg.train.loss!r}; known: {sorted(LOSSES)}")
    policy = cfg.train.get("nonfinite", "stop")
    if policy not in nonfinite.POLICIES:
        raise ValueError(f"train.nonfinite={policy!r}; known: {list(nonfinite.POLICIES)}")
    if int(cfg.train.get("max_nonfinite", 0)) < 0:
        raise ValueError(f"train.max_nonfinite={cfg.train.max_nonfinite} must be >= 0")
    optim.make_optimizer(cfg.optim)  # unknown schedule, bad restart weights
    _check_data(cfg)
    _check_eval(cfg)
    src = cfg.get("init_from")
    if src and not (Path(src).is_dir() or (Path(src).is_file() and src.endswith(".pth"))):
        raise FileNotFoundError(f"init_from={src}: not a model directory or .pth file")


def _check_data(cfg: Any) -> None:

    t = cfg.data.train
    kind = t.get("builder")
    if kind not in tfds_builders.BUILDERS:
        raise ValueError(f"data.train.builder={kind!r}; known: {sorted(tfds_builders.BUILDERS)}")
    if kind == "sr_folder":
        splits = dict(t.get("splits") or {})
        split = t.get("split", "train")
        if split not in splits:
            raise ValueError(f"data.train.split={split!r} not in data.train.splits {list(splits)}")
        for name, dirs in splits.items():
            if not dirs:
                raise ValueError(f"data.train.splits.{name}: no folders")
            for pair in dirs:
                for d in pair:
                    if d is not None and not Path(d).is_dir():
                        raise FileNotFoundError(f"data.train.splits.{name}: {d}: no such folder")
    elif kind in ("div2k", "sr_benchmark"):
        root = t.get("root")
        if not root or not Path(root).is_dir():
            raise FileNotFoundError(f"data.train.root={root!r}: no such folder")


def _check_eval(cfg: Any) -> None:
    ev = cfg.eval
    sets, root, select = tuple(ev.get("sets") or ()), ev.get("root"), ev.get("select", "")
    if sets:
        _positive(cfg, "eval.every")
        if not root:
            raise ValueError(f"eval.sets={list(sets)} but eval.root is empty")
        for s in sets:
            if not isinstance(s, str) or not s.strip() or s != s.strip():
                raise ValueError(f"eval.sets: bad set name {s!r}")
            if not (Path(root) / s / "HR").is_dir():
                raise FileNotFoundError(f"eval.sets: {Path(root) / s / 'HR'}: no such folder")
    if select:
        keys = eval_keys(sets)
        if select not in keys:
            hint = f"one of {keys}" if keys else "empty (no eval.sets)"
            raise ValueError(f"eval.select={select!r} is not an eval metric; expected {hint}")
