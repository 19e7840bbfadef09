"""A markdown table of pruned-model runs (method, Y-PSNR/SSIM per set, GMACs, non-zero
params, SLS budget step, per-layer N) from an experiment directory.

    python -m jaxsr.results_table OUT RUN [RUN ...] [--m=32]
    python -m jaxsr.results_table --ratio MODEL_DIR   # kept / dense MACs of its masked convs
    python -m jaxsr.results_table --adaptive EVAL_JSON  # `jaxsr.evaluate --beta` of an ensemble

`--ratio` gives the SLS `target` that matches a uniform N:M baseline's MACs (the convs it
masks, at the 1280x720 output): uniform N:M on a layer whose input channels are not a
multiple of M keeps more than N/M of it, so "8:32" is not "1/4".

Each RUN needs `OUT/RUN.json` (`jaxsr.evaluate --json`) and `OUT/RUN/final_model` (an
exported N:M model dir; `OUT/RUN/report.json` adds the SLS budget step if present).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from jaxsr import complexity, model_dir
from jaxsr.cli import usage_error
from jaxsr.experiment.report import adaptive_table
from jaxsr.methods.sls import layer_table


def rows(out: Path, runs: list[str], m: int = 32) -> list[dict]:

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
    from flax import traverse_util

    keys = {"/".join(k) for k in traverse_util.flatten_dict(masks)}
    layers = [c for c in complexity.pruned_report(directory).layers if f"{c.path}/kernel" in keys]
    return sum(c.macs for c in layers) / sum(c.dense_macs for c in layers)


def markdown(res: list[dict]) -> str:
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


def main(argv: list[str]) -> int:
    """Exit codes as every jaxsr CLI (`jaxsr.cli`): a bad argument or input file is 2."""

    if argv[:1] == ["--adaptive"]:
        if len(argv) != 2:
            return usage_error("usage: python -m jaxsr.results_table --adaptive EVAL_JSON")
        try:
            print(adaptive_markdown(json.loads(Path(argv[1]).read_text())), end="")
        except (OSError, ValueError, KeyError) as e:
            return usage_error(f"{argv[1]}: {e}")
        return 0
    if argv[:1] == ["--ratio"] and len(argv) == 2:
        try:
            print(f"{masked_macs_ratio(Path(argv[1])):.6f}")
        except (OSError, ValueError) as e:
            return usage_error(str(e))
        return 0
    args = [a for a in argv if not a.startswith("--m=")]
    try:
        m = next((int(a[4:]) for a in argv if a.startswith("--m=")), 32)
    except ValueError:
        return usage_error(f"{[a for a in argv if a.startswith('--m=')][0]}: not an integer")
    if len(args) < 2 or any(a.startswith("-") for a in args):
        given = " ".join(argv) or "no arguments"
        return usage_error(
            f"{given}: usage: python -m jaxsr.results_table OUT RUN [RUN ...] [--m=32]"
        )
    try:
        print(markdown(rows(Path(args[0]), args[1:], m)), end="")
    except (OSError, ValueError) as e:
        return usage_error(str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
