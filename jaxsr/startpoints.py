"""Where a stage's params come from: loaded models, the seeded init, rewind points, and
values a stage computes once and reads back on resume. Below the methods and the trainer
(both use it; it imports neither).

- `build_model(cfg)`: the config's Flax module; `load_model(src, name, scale, overrides)`:
  (module, params, name, scale) of a model directory or a PyTorch `.pth` (with the model
  named), params checked finite;
- `initial_params(cfg, model)`: `config.init_from` loaded into the config's model, or None;
  `seeded_params(cfg, model)`: the seeded init (the same key as `jaxsr.state.init_state`);
  `start_params(cfg, model)`: the first if set, else the second;
- `save_point` / `load_point`: params + step + data position in a model directory (UPru's W0
  and late-rewind points); `restore_point`: such a point from a stage's training checkpoint;
- `once(path, compute, save, load)`: a value computed on a stage's first start and read back
  from `path` on every later one (a killed stage starts exactly as before).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import jax

from jaxsr import files, model_dir, models
from jaxsr.checkpoints import Checkpointer
from jaxsr.convert import import_torch
from jaxsr.state import state_template

T = TypeVar("T")


def model_overrides(cfg: Any) -> dict:
    """`config.model.overrides` as a plain (deep) dict."""
    o = cfg.model.get("overrides", {})
    return o.to_dict() if hasattr(o, "to_dict") else dict(o)


def build_model(cfg: Any) -> Any:
    """The Flax module of `config.model` (name, scale, overrides)."""
    return models.create(cfg.model.name, int(cfg.model.scale), **model_overrides(cfg))


def load_model(
    src: str | Path, name: str | None = None, scale: int | None = None, overrides: Any = None
) -> tuple[Any, Any, str, int]:
    """(module, params, model name, scale) from a model directory or a `.pth` file; `name`
    and `scale` are required for a `.pth` and, if given, checked against a directory."""
    if src and Path(src).is_dir():
        meta = model_dir.read_meta(src)
        if name and models.spec(name).name != meta["model"]:
            raise ValueError(f"{src}: holds model {meta['model']!r}, not {name!r}")
        if scale and scale != meta["scale"]:
            raise ValueError(f"{src}: holds a x{meta['scale']} model, not x{scale}")
        module, params, meta = model_dir.load_model(src)
        return module, params, meta["model"], meta["scale"]
    if not name or not scale:
        raise ValueError("--model and --scale are required unless --weights is a model directory")
    if src:
        if not Path(src).is_file():
            raise FileNotFoundError(f"{src}: no such file or model directory")

        module, params, _ = import_torch(src, name, scale, **dict(overrides or {}))
        model_dir.check_finite(params, src)
        return module, params, models.spec(name).name, scale
    raise ValueError(f"--weights is required for model {name!r}")


def initial_params(cfg: Any, model: Any) -> Any | None:
    """The model params of `config.init_from` (a model dir or .pth), None if unset."""
    src = cfg.get("init_from")
    if not src:
        return None
    src_path = Path(src)
    if src_path.is_dir():
        params = model_dir.load_params(src_path, model)
    elif src_path.suffix == ".pth":
        _, params, _ = import_torch(
            src_path, cfg.model.name, cfg.model.scale, **dict(cfg.model.get("overrides", {}))
        )
    else:
        raise FileNotFoundError(f"init_from={src}: not a model directory or .pth file")
    model_dir.check_finite(params, f"init_from={src}")
    return params


def seeded_params(cfg: Any, model: Any) -> Any:
    """The seeded init of `config.seed`: the key `jaxsr.state.init_state` draws it with."""
    key = jax.random.split(jax.random.PRNGKey(int(cfg.seed)))[0]
    return models.init_params(model, key)


def start_params(cfg: Any, model: Any) -> Any:
    """`config.init_from` if set, else the seeded init."""
    params = initial_params(cfg, model)
    return seeded_params(cfg, model) if params is None else params


def save_point(directory: Path, cfg: Any, point: dict) -> None:
    """A start point (`params`, `step`, `data_state`) as a model directory + point.json."""
    model_dir.save_model(
        directory,
        jax.device_get(point["params"]),
        models.spec(cfg.model.name).name,
        int(cfg.model.scale),
        dict(cfg.model.get("overrides", {})),
        source=f"rewind point, step {point['step']}",
        overwrite=True,
    )
    meta = {"step": point["step"], "data_state": point["data_state"]}
    files.write_text_atomic(directory / "point.json", json.dumps(meta))


def load_point(directory: Path, model: Any) -> dict | None:
    """The point saved by `save_point` in `directory`, None if there is none (yet)."""
    meta = directory / "point.json"
    if not meta.exists():
        return None
    m = json.loads(meta.read_text())
    return {
        "params": model_dir.load_params(directory, model),
        "step": m["step"],
        "data_state": m["data_state"],
    }


def restore_point(
    checkpoints: Path, step: int, cfg: Any, model: Any, method: Any, what: str = "step"
) -> dict:
    """The model params and data position of a stage's training checkpoint at `step`
    (`method`: the stage's, whose state structure the checkpoint holds; `what`: the config
    key naming the step, for the error when there is no such checkpoint)."""
    ck = Checkpointer(checkpoints, 1, 1)
    try:
        if step not in ck.all_steps():
            raise ValueError(
                f"{what}={step} is not among the checkpoints {ck.all_steps()} of {checkpoints}"
            )
        state, data_state, _ = ck.restore(step, state_template(cfg, model, method))
    finally:
        ck.close()
    params = method.model_params(state.params, state.extra)
    return {"params": params, "step": step, "data_state": data_state}


def once(
    path: Path,
    compute: Callable[[], T],
    save: Callable[[Path, T], None],
    load: Callable[[Path], T],
) -> T:
    """`load(path)` if an earlier call saved it; else `compute()`, saved by `save` to a
    temporary sibling renamed to `path` when complete (a kill leaves no half-written value),
    and returned as computed."""
    path = Path(path)
    if path.exists():
        return load(path)
    value = compute()
    tmp = path.with_name(f".tmp-{path.name}")  # same suffix (np.savez appends .npz)
    if tmp.is_dir():
        shutil.rmtree(tmp)
    else:
        tmp.unlink(missing_ok=True)
    save(tmp, value)
    tmp.replace(path)
    return value
