"""Import published PyTorch checkpoints into jaxsr models (strict), and save them with Orbax.

    python -m jaxsr.convert --model=rfdn --scale=4 --torch=rfdn_x4.pth --out=ckpt/rfdn_x4

Key mapping: a PyTorch key `a.b.0.c.weight` names the Flax param `a/b_0/c/kernel` (numeric
segments join the previous one with `_`); conv weights go OIHW -> HWIO. Every tensor in the
file must be used exactly once and every param of the model must be filled, with matching
shapes. The few per-model rewrites (`module.` prefixes, CARN's multi-scale heads, fixed
MeanShift convs, old MSRResNet names) live in `_rewrite` below. torch is only needed here.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from flax import traverse_util

from jaxsr import cli, files, model_dir, models

DIV2K_MEAN = np.array([0.4488, 0.4371, 0.4040], np.float32)


class CheckpointMismatch(ValueError):
    """The file does not fit the model (missing/unexpected keys, shapes, fixed constants)."""


def load_torch_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a `.pth` state dict (flat, or wrapped in params/params_ema/state_dict) as numpy."""
    try:
        import torch
    except ImportError:
        raise ImportError(
            "importing PyTorch checkpoints needs torch: pip install 'jaxsr[torch]'"
        ) from None
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({e})") from None
    for wrapper in ("params_ema", "params", "state_dict", "model"):
        if isinstance(obj, Mapping) and wrapper in obj and isinstance(obj[wrapper], Mapping):
            obj = obj[wrapper]
            break
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path}: expected a state dict, found {type(obj).__name__}")
    out = {}
    for k, v in obj.items():
        if not hasattr(v, "detach"):
            raise ValueError(f"{path}: entry {k!r} is a {type(v).__name__}, not a tensor")
        out[k] = v.detach().float().numpy()
    return out


def _check_mean_shift(
    sd: dict[str, np.ndarray], prefix: str, sign: float, mean: np.ndarray, used: set[str]
) -> None:
    """A fixed MeanShift conv must be identity + sign*mean; its tensors are then 'used'."""
    w, b = sd.get(f"{prefix}.weight"), sd.get(f"{prefix}.bias")
    if w is None or b is None:
        raise CheckpointMismatch(f"missing fixed MeanShift tensors {prefix}.weight/.bias")
    if not np.allclose(w.reshape(3, 3), np.eye(3), atol=1e-6) or not np.allclose(
        b, sign * mean, atol=1e-5
    ):
        raise CheckpointMismatch(
            f"{prefix}: MeanShift is not identity/{sign:+.0f}*mean {mean.tolist()} "
            f"(bias {b.tolist()})"
        )
    used.update({f"{prefix}.weight", f"{prefix}.bias"})


def _rewrite(
    sd: dict[str, np.ndarray], model: str, scale: int, fields: dict[str, Any]
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Model-specific renames; returns (tensors to map, notes about deliberately unused keys)."""
    notes: list[str] = []
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    used: set[str] = set()
    if model in ("carn", "carn_m"):
        _check_mean_shift(sd, "sub_mean.shifter", -1.0, DIV2K_MEAN, used)
        _check_mean_shift(sd, "add_mean.shifter", 1.0, DIV2K_MEAN, used)
        heads = {m.group(1) for k in sd if (m := re.match(r"upsample\.up(\d*)\.", k))}
        if "" not in heads:  # multi-scale file: pick this scale's head
            if str(scale) not in heads:
                raise CheckpointMismatch(
                    f"no upsampling head for x{scale} (file has x{', x'.join(sorted(heads))})"
                )
            other = sorted(h for h in heads if h != str(scale))
            for k in list(sd):
                m = re.match(r"upsample\.up(\d+)\.(.*)", k)
                if m and m.group(1) == str(scale):
                    sd[f"upsample.up.{m.group(2)}"] = sd.pop(k)
                elif m:
                    used.add(k)
            if other:
                notes.append(
                    f"multi-scale file: used the x{scale} head, ignored x{', x'.join(other)}"
                )
    elif model == "edsr_baseline":
        rng = float(fields.get("rgb_range", 255.0))
        _check_mean_shift(sd, "sub_mean", -1.0, DIV2K_MEAN * rng, used)
        _check_mean_shift(sd, "add_mean", 1.0, DIV2K_MEAN * rng, used)
    elif model == "msrresnet" and any(k.startswith("recon_trunk.") for k in sd):
        ren = {"recon_trunk.": "body.", "HRconv.": "conv_hr."}
        sd = {
            next((new + k[len(old) :] for old, new in ren.items() if k.startswith(old)), k): v
            for k, v in sd.items()
        }
    return {k: v for k, v in sd.items() if k not in used}, notes


def torch_key_to_path(key: str) -> tuple[str, ...]:
    """`body.0.conv1.weight` -> ('body_0', 'conv1', 'kernel')."""
    parts = key.split(".")
    leaf = {"weight": "kernel", "bias": "bias"}.get(parts[-1], parts[-1])
    path: list[str] = []
    for p in parts[:-1]:
        if p.isdigit() and path:
            path[-1] = f"{path[-1]}_{p}"
        else:
            path.append(p)
    return (*path, leaf)


def _to_flax(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array.transpose(2, 3, 1, 0)) if array.ndim == 4 else array


def _short(keys: list[str], n: int = 6) -> str:
    more = f", ... (+{len(keys) - n})" if len(keys) > n else ""
    return "[" + ", ".join(keys[:n]) + more + "]"


def convert_state_dict(
    state_dict: Mapping[str, np.ndarray],
    model: str,
    scale: int,
    source: str = "state dict",
    **overrides: Any,
) -> tuple[dict, list[str]]:
    """Map a PyTorch state dict onto the params of `models.create(model, scale, **overrides)`.

    Returns (params, notes). Raises `CheckpointMismatch` (one line naming the missing and
    unexpected keys, or the first shape mismatch) when the file does not fit.
    """
    spec = models.spec(model)
    module = models.create(model, scale, **overrides)
    fields = {**spec.defaults, **overrides}
    target = traverse_util.flatten_dict(models.abstract_params(module))
    try:
        sd, notes = _rewrite(dict(state_dict), spec.name, scale, fields)
    except CheckpointMismatch as e:
        raise CheckpointMismatch(f"{source} does not fit {spec.name} x{scale}: {e}") from None
    by_path = {torch_key_to_path(k): k for k in sd}
    missing = sorted("/".join(p) for p in target if p not in by_path)
    unexpected = sorted(k for p, k in by_path.items() if p not in target)
    if missing or unexpected:
        raise CheckpointMismatch(
            f"{source} does not fit {spec.name} x{scale}: missing keys {_short(missing)}; "
            f"unexpected keys {_short(unexpected)}"
        )
    flat = {}
    for path, want in target.items():
        key = by_path[path]
        arr = _to_flax(np.asarray(sd[key], np.float32))
        if arr.shape != tuple(want.shape):
            flax_shape = f" (HWIO {arr.shape})" if arr.ndim == 4 else ""
            raise CheckpointMismatch(
                f"{source} does not fit {spec.name} x{scale}: {key} has shape "
                f"{tuple(sd[key].shape)}{flax_shape}, model expects {tuple(want.shape)}"
            )
        flat[path] = arr
    return traverse_util.unflatten_dict(flat), notes


def import_torch(
    path: str | os.PathLike, model: str, scale: int, **overrides: Any
) -> tuple[Any, dict, list[str]]:
    """(module, params, notes) from a `.pth` file."""
    sd = load_torch_state_dict(path)
    params, notes = convert_state_dict(sd, model, scale, source=str(path), **overrides)
    return models.create(model, scale, **overrides), params, notes


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """`["num_feat=32", "pixel_range=1.0"]` -> {"num_feat": 32, "pixel_range": 1.0}."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r}: expected key=value")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def check_args(f: Any) -> dict[str, Any]:
    """All arguments, before the checkpoint is read; returns the model overrides."""

    models.spec(f.model)
    if f.scale <= 0:
        raise ValueError(f"--scale={f.scale} must be > 0")
    if not Path(f.torch).is_file():
        raise FileNotFoundError(f"--torch={f.torch}: no such file")
    out = Path(f.out)
    if out.exists() and not f.overwrite:
        raise FileExistsError(f"--out={f.out}: already exists (pass --overwrite)")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out={f.out}: exists and is not a directory")
    files.check_output_dir(out.absolute().parent, "--out (its folder)")
    return parse_overrides(f.override)


def main() -> None:
    from absl import flags

    f = flags.FLAGS
    with cli.checking():
        overrides = check_args(f)
    _, params, notes = import_torch(f.torch, f.model, f.scale, **overrides)
    model_dir.check_finite(params, f.torch)
    out = model_dir.save_model(
        f.out,
        params,
        models.spec(f.model).name,
        f.scale,
        overrides,
        source=str(Path(f.torch).resolve()),
        overwrite=f.overwrite,
    )
    for n in notes:
        print(f"note: {n}")
    print(f"wrote {out} ({models.num_params(params):,} params)")


def run() -> None:
    from absl import flags

    flags.DEFINE_string("model", None, "registry name, e.g. rfdn", required=True)
    flags.DEFINE_integer("scale", 4, "upscaling factor")
    flags.DEFINE_string("torch", None, "path of the PyTorch .pth file", required=True)
    flags.DEFINE_string("out", None, "output model directory", required=True)
    flags.DEFINE_multi_string("override", [], "model field override key=value")
    flags.DEFINE_bool("overwrite", False, "replace an existing output directory")

    cli.main(main, stopped="conversion stopped; nothing written")


if __name__ == "__main__":
    run()
