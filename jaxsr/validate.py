"""Argument checks that run before any compute: one-line errors naming the key or path.

`check_train_config(cfg)` checks a training config (numbers in range, names known, paths
present, `eval.select` among the metrics the evaluation will produce); `check_workdir`
and `check_output_file`/`check_output_dir` check that outputs can be written. All raise
`ValueError`/`FileNotFoundError` with a one-line message.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

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


def _writable_dir(path: Path, what: str) -> None:
    """`path` (a directory, created if missing) accepts new files."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what}={path}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{what}={path}: cannot create ({e.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"{what}={path}: not writable")


def check_workdir(workdir: str | os.PathLike, what: str = "workdir") -> Path:
    path = Path(workdir).absolute()
    _writable_dir(path, what)
    return path


def check_output_dir(path: str | os.PathLike, what: str, create: bool = True) -> Path:
    """A folder for new files. `create=False`: checked only (not a file; if missing, its
    nearest existing parent writable), so a run refused later leaves nothing behind."""
    p = Path(path).absolute()
    if create:
        _writable_dir(p, what)
        return p
    if p.exists():
        if not p.is_dir():
            raise ValueError(f"{what}={path}: exists and is not a directory")
        if not os.access(p, os.W_OK | os.X_OK):
            raise ValueError(f"{what}={path}: not writable")
        return p
    parent = p.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{what}={path}: cannot create (its parent {parent} is not writable)")
    return p


def check_output_file(path: str | os.PathLike, what: str) -> Path:
    """A file path that can be (over)written: not a directory, its parent writable."""
    p = Path(path).absolute()
    if p.is_dir():
        raise ValueError(f"{what}={path}: is a directory, expected a file path")
    if p.exists() and not os.access(p, os.W_OK):
        raise ValueError(f"{what}={path}: not writable")
    _writable_dir(p.parent, f"{what} (its folder)")
    return p


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a file via a temporary sibling and a rename (a kill never leaves it half-written)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def eval_keys(sets: Any) -> list[str]:
    """The metric names the in-training evaluation produces for `sets`."""
    return [f"{s}/{k}" for s in sets for k in EVAL_METRICS]


def checkpoint_steps(directory: str | os.PathLike) -> list[int]:
    """Steps of the complete checkpoints in `directory` (numeric sub-folders), no Orbax."""
    d = Path(directory)
    return sorted(int(p.name) for p in d.iterdir() if p.name.isdigit()) if d.is_dir() else []


def check_model_builds(model_cfg: Any, scale: int, where: str) -> None:
    """The model of a config section (`name`, `overrides`) is created and its params traced
    (shapes only, no compute): a bad override fails here, before any stage trains."""
    from jaxsr import models

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
    from jaxsr import models, nonfinite, optim

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
    from jaxsr.train.step import LOSSES

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
    from jaxsr.data import tfds_builders

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


_DID_YOU_MEAN = re.compile(r"Did you mean \"?([\w.]+)\"? instead of \"?([\w.]+)\"?")


def config_flag_error(e: BaseException, argv: list[str]) -> str:
    """One line for an error raised while ml_collections parses `--config...` flags."""
    text = " ".join(str(a) for a in getattr(e, "args", ())) or str(e)
    m = _DID_YOU_MEAN.search(text.replace("\\n", " ").replace('\\"', '"'))
    bad = next((a for a in argv[1:] if m and a.startswith("--config.") and m.group(2) in a), None)
    if m:
        flag = bad.split("=")[0] if bad else f"'{m.group(2)}'"
        return f"{flag}: unknown config key {m.group(2)!r}; did you mean {m.group(1)!r}?"
    if isinstance(e, (KeyError, AttributeError)):
        line = _unknown_key_line(text.strip("\"' "), argv)
        if line:
            return line
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[-1] if lines else type(e).__name__


def _unknown_key_line(key: str, argv: list[str]) -> str | None:
    """`--config.a.b: unknown config key 'b' in 'a'; did you mean ...? (known: ...)` for an
    override naming a key the config lacks (ml_collections suggests only close matches of
    some sections, and says just `'b'` otherwise)."""
    import difflib

    config_arg = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
    for arg in argv[1:]:
        if not arg.startswith("--config."):
            continue
        path = arg[len("--config.") :].split("=", 1)[0].split(".")
        if key not in path:
            continue
        where = path[: path.index(key)]
        known: list[str] = []
        try:
            section = _load_config(config_arg) if config_arg else None
            for part in where:
                section = section[part]
            known = sorted(section.keys())
        except Exception:  # noqa: BLE001 - the hint is optional; the key is named anyway
            pass
        name = ".".join(where) or "the config"
        line = f"--config.{'.'.join(path)}: unknown config key {key!r} in {name}"
        close = difflib.get_close_matches(key, known, 1)
        if close:
            line += f"; did you mean {close[0]!r}?"
        if known:
            line += f" (known: {', '.join(known)})"
        return line
    return None


def _load_config(arg: str) -> Any:
    """The config of `--config=file.py[:variant]` (for error hints)."""
    import importlib.util

    path, _, variant = arg.partition(":")
    spec = importlib.util.spec_from_file_location("jaxsr_hint_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(variant or None) if variant else module.get_config()
