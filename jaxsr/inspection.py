"""Looking at pruned models and runs (what `notebooks/inspect_masks.ipynb` calls).

- `models_of(path)`: the model dirs of a training run (one per stage, in order: UPru rounds,
  SLS search and fine-tune, ...) or a single model dir;
- `layer_rows(model)`: per conv: shape, weights, non-zero, sparsity, N:M pattern, MACs;
- `markdown(rows)`: such rows as a markdown table;
- `mask_grid(model, layer)`: a kernel's mask as an image (one kh x kw cell per input/output
  channel pair); `plot_masks` draws several;
- `mask_changes(a, b)`: per layer, weights kept in both / pruned in b only / revived in b;
- `sparsity_history(run)`: per-layer sparsity at every eval step of a run's stages (how SLS's
  search moved N, from the trainer's `sparsity` records);
- `sr_crops(models, image, box)`: the same crop upscaled by several models, beside bicubic
  and the HR image; `plot_crops` draws them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxsr import complexity, metrics, model_dir
from jaxsr.data.imresize import upscale
from jaxsr.inference import Predictor
from jaxsr.metric_writer import read_metrics
from jaxsr.metrics import psnr as psnr_fn


def models_of(path: str | os.PathLike) -> list[Path]:
    """Model dirs of `path`: itself if it is one, else the `final_model` of every stage of a
    training run in training order (`stages.json`; a one-stage run: its own)."""
    p = Path(path)
    if (p / "jaxsr_model.json").exists():
        return [p]
    if (p / "stages.json").exists():
        return [p / s["stage"] / "final_model" for s in json.loads((p / "stages.json").read_text())]
    if (p / "final_model" / "jaxsr_model.json").exists():
        return [p / "final_model"]
    raise FileNotFoundError(f"{p}: neither a model dir nor a finished training run")


def layer_rows(model: str | os.PathLike) -> list[dict[str, Any]]:
    """One row per conv of the model (in call order): its weights, non-zero weights, sparsity,
    N:M pattern (if its mask has one) and MACs at a 1280x720 output."""
    rep = complexity.pruned_report(model)
    return [
        {
            "layer": c.path,
            "weights": c.size,
            "nonzero": c.nonzero,
            "sparsity": 1 - c.nonzero / c.size if c.size else 0.0,
            "N:M": c.pattern,
            "GMACs": c.macs / 1e9,
        }
        for c in rep.layers
    ]


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """Rows (dicts with the same keys) as a markdown table; floats with 4 significant digits."""
    if not rows:
        return ""
    keys = list(rows[0])

    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
    lines += ["| " + " | ".join(fmt(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def _flat(tree: Any) -> dict[str, np.ndarray]:
    from flax import traverse_util

    return {k: np.asarray(v) for k, v in traverse_util.flatten_dict(tree, sep="/").items()}


def kernel_mask(model: str | os.PathLike, layer: str) -> np.ndarray:
    """The boolean mask (HWIO) of a conv kernel: masks.npz if the model has it, else the
    non-zero pattern of its weights. `layer` is a param path, "/kernel" optional."""
    key = layer if layer.endswith("/kernel") else f"{layer}/kernel"
    masks = model_dir.load_masks(model)
    if masks is not None and key in (fm := _flat(masks)):
        return fm[key].astype(bool)
    _, params, _ = model_dir.load_model(model)
    flat = _flat(params)
    if key not in flat:
        raise KeyError(f"{model}: no param {key!r} (convs: {sorted(flat)[:8]}...)")
    return flat[key] != 0


def mask_grid(mask: np.ndarray, max_in: int = 32, max_out: int = 32) -> np.ndarray:
    """An HWIO mask as a 2-d image: rows = input channels, columns = output channels, each a
    kh x kw cell, cells 1 px apart (0.5 = the separating grid). Up to max_in x max_out."""
    kh, kw, ci, co = mask.shape
    ci, co = min(ci, max_in), min(co, max_out)
    img = np.full((ci * (kh + 1) - 1, co * (kw + 1) - 1), 0.5)
    for i in range(ci):
        for o in range(co):
            img[i * (kh + 1) : i * (kh + 1) + kh, o * (kw + 1) : o * (kw + 1) + kw] = mask[
                :, :, i, o
            ]
    return img


def plot_masks(model: str | os.PathLike, layers: Sequence[str], max_ch: int = 24):
    """A figure with the mask grid of each layer (white = kept, black = pruned)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(layers), figsize=(3.2 * len(layers), 3.4), squeeze=False)
    for ax, layer in zip(axes[0], layers, strict=True):
        m = kernel_mask(model, layer)
        ax.imshow(mask_grid(m, max_ch, max_ch), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{layer}\n{100 * (1 - m.mean()):.1f} % pruned", fontsize=8)
        ax.set_xlabel("output channel")
        ax.set_ylabel("input channel")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def mask_changes(a: str | os.PathLike, b: str | os.PathLike) -> list[dict[str, Any]]:
    """Per conv kernel: weights kept in both models, pruned in `b` only, revived in `b`
    (pruned in `a`, kept in `b`), pruned in both — e.g. two consecutive UPru rounds."""
    rows = []
    for r in layer_rows(b):
        ma, mb = kernel_mask(a, r["layer"]), kernel_mask(b, r["layer"])
        rows.append(
            {
                "layer": r["layer"],
                "kept": int(np.sum(ma & mb)),
                "newly pruned": int(np.sum(ma & ~mb)),
                "revived": int(np.sum(~ma & mb)),
                "pruned in both": int(np.sum(~ma & ~mb)),
            }
        )
    return rows


def sparsity_history(run: str | os.PathLike) -> dict[str, Any]:
    """{"step": [...], "layers": {path: [sparsity at each step]}} from the `sparsity`
    records the trainer writes at eval steps, over the run's stages (steps continue)."""

    p = Path(run)
    dirs = (
        [p / s["stage"] for s in json.loads((p / "stages.json").read_text())]
        if (p / "stages.json").exists()
        else [p]
    )
    steps: list[int] = []
    layers: dict[str, list[float]] = {}
    offset = 0
    for d in dirs:
        summ = json.loads((d / "summary.json").read_text()) if (d / "summary.json").exists() else {}
        start = int(summ.get("first_step", 0))
        for rec in read_metrics(d):
            if rec.get("kind") != "sparsity":
                continue
            steps.append(offset + rec["step"] - start)
            for k, v in rec.items():
                if k not in ("step", "kind"):
                    layers.setdefault(k, []).append(v)
        offset += int(summ.get("steps", start)) - start
    return {"step": steps, "layers": layers}


def sr_crops(
    models: Sequence[str | os.PathLike], lr: np.ndarray, box: tuple[int, int, int, int]
) -> dict[str, np.ndarray]:
    """{"bicubic": ..., <model dir name>: ...} of the LR crop `box` = (y, x, h, w) (LR
    pixels), each upscaled to the HR size (uint8). Whole-image inference, then the crop
    (so borders are as in a full run)."""

    y, x, h, w = box
    if y < 0 or x < 0 or y + h > lr.shape[0] or x + w > lr.shape[1]:
        raise ValueError(f"box {box} is outside the LR image {lr.shape[:2]}")
    out: dict[str, np.ndarray] = {}
    for m in models:
        module, params, meta = model_dir.load_model(m)
        s = int(meta["scale"])
        sr = metrics.to_uint8(Predictor(module, params, s)(lr))
        name = Path(m).name if Path(m).name != "final_model" else Path(m).parent.name
        out[name] = sr[y * s : (y + h) * s, x * s : (x + w) * s]
        out.setdefault("bicubic", upscale(lr, s)[y * s : (y + h) * s, x * s : (x + w) * s])
    return {"bicubic": out.pop("bicubic"), **out}


def plot_crops(crops: dict[str, np.ndarray], hr: np.ndarray | None = None, psnr: bool = True):
    """A row of crops (and the HR crop last, with each crop's PSNR against it)."""
    import matplotlib.pyplot as plt

    items = list(crops.items()) + ([("HR", hr)] if hr is not None else [])
    fig, axes = plt.subplots(1, len(items), figsize=(2.8 * len(items), 3.0), squeeze=False)
    for ax, (name, img) in zip(axes[0], items, strict=True):
        ax.imshow(img)
        title = name
        if hr is not None and psnr and name != "HR":
            title += f"\n{psnr_fn(img, hr):.2f} dB (RGB)"
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig
