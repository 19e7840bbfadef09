"""Markdown tables outside a spec's results folder (`python -m jaxsr.report` prints them):

- `rows` / `markdown`: pruned-model runs of an experiment directory (method, Y-PSNR/SSIM per
  set, GMACs, non-zero params, SLS budget step, per-layer N). Each RUN needs `OUT/RUN.json`
  (`jaxsr.evaluate --json`) and `OUT/RUN/final_model` (an exported N:M model dir;
  `OUT/RUN/report.json` adds the SLS budget step if present);
- `masked_macs_ratio`: kept / dense MACs of a model dir's masked convs, i.e. the SLS
  `target` that matches a uniform N:M baseline's MACs (the convs it masks, at the 1280x720
  output): uniform N:M on a layer whose input channels are not a multiple of M keeps more
  than N/M of it, so "8:32" is not "1/4";
- `adaptive_markdown`: `jaxsr.evaluate --beta` of an ensemble;
- `evals_markdown`: `jaxsr.evaluate --json` result files, one row per set.
"""

from __future__ import annotations

import json
from pathlib import Path

from flax import traverse_util

from jaxsr import complexity, model_dir
from jaxsr.experiment.report import adaptive_table
from jaxsr.methods.sls import layer_table


def rows(out: Path, runs: list[str], m: int = 32) -> list[dict]:
    """Per run: its eval JSON's Y-PSNR/SSIM, GMACs, non-zero params, budget step, N per layer."""
    res = []
    for name in runs:
        ev_path, mdir = out / f"{name}.json", out / name / "final_model"
        for p in (ev_path, mdir):
            if not p.exists():
                raise FileNotFoundError(f"run {name}: {p} is missing")
        ev = json.loads(ev_path.read_text())["sets"]
        rep = complexity.pruned_report(mdir)
        rpath = out / name / "report.json"
        budget_step = json.loads(rpath.read_text()).get("budget_step") if rpath.exists() else None
        res.append(
            {
                "run": name,
                "eval": {s: (v["psnr_y"], v["ssim_y"]) for s, v in ev.items()},
                "gmacs": rep.macs / 1e9,
                "dense_gmacs": rep.dense_macs / 1e9,
                "nonzero": rep.nonzero_params,
                "budget_step": budget_step,
                "n": [r["n"] for r in layer_table(mdir, m)],
            }
        )
    return res


def masked_macs_ratio(directory: Path) -> float:
    """Kept MACs / dense MACs over the convs that have a mask in the model dir."""

    masks = model_dir.load_masks(directory)
    if masks is None:
        raise ValueError(f"{directory}: no masks.npz")
    keys = {"/".join(k) for k in traverse_util.flatten_dict(masks)}
    layers = [c for c in complexity.pruned_report(directory).layers if f"{c.path}/kernel" in keys]
    return sum(c.macs for c in layers) / sum(c.dense_macs for c in layers)


def markdown(res: list[dict]) -> str:
    """The table of `rows`, the dense GMACs and every run's per-layer N."""
    sets = list(res[0]["eval"])
    head = ["run", *[f"{s} PSNR/SSIM (Y)" for s in sets], "GMACs", "non-zero params", "budget step"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in res:
        cells = [r["run"], *[f"{r['eval'][s][0]:.3f} / {r['eval'][s][1]:.4f}" for s in sets]]
        step = "" if r["budget_step"] is None else str(r["budget_step"])
        cells += [f"{r['gmacs']:.2f}", f"{r['nonzero']:,}", step]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Dense model: {res[0]['dense_gmacs']:.2f} GMACs (1280x720 output).")
    lines.append("")
    lines.append("Per-layer N (kept weights per group of M input channels, in param order):")
    lines.append("")
    for r in res:
        lines.append(f"- {r['run']}: " + " ".join(map(str, r["n"])))
    return "\n".join(lines) + "\n"


def adaptive_markdown(doc: dict) -> str:
    """One row per beta and per candidate alone (`jaxsr.experiment.report.adaptive_table`)."""
    if not doc["runs"]:
        raise ValueError("no runs (evaluate --beta / --alone)")
    return adaptive_table(doc, list(doc["runs"][0]["sets"])) + "\n"


def evals_markdown(paths: list[str]) -> str:
    """One row per set of each `jaxsr.evaluate --json` result file."""
    out = [
        "| model | scale | set | images | PSNR RGB | SSIM RGB | PSNR Y | SSIM Y |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for path in paths:
        try:
            res = json.loads(Path(path).read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: {e}") from None
        if not isinstance(res, dict) or not isinstance(res.get("sets"), dict):
            raise ValueError(f"{path}: not a jaxsr.evaluate --json result (no 'sets')")
        for name, r in res["sets"].items():
            out.append(
                f"| {res['model']} | x{res['scale']} | {name} | {r['num_images']} | "
                f"{r['psnr_rgb']:.3f} | {r['ssim_rgb']:.4f} | "
                f"{r['psnr_y']:.3f} | {r['ssim_y']:.4f} |"
            )
    return "\n".join(out) + "\n"
