"""A markdown table of pruned-model runs (method, Y-PSNR/SSIM per set, GMACs, non-zero
params, SLS budget step, per-layer N) from an experiment directory.

    python -m jaxsr.results_table OUT RUN [RUN ...] [--m=32]
    python -m jaxsr.results_table --ratio MODEL_DIR   # kept / dense MACs of its masked convs
    python -m jaxsr.results_table --structured OUT RUN [RUN ...]  # seeds pooled: RUN_s<k>
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

from jaxsr import complexity


def rows(out: Path, runs: list[str], m: int = 32) -> list[dict]:
    from jaxsr.methods.sls import layer_table

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


def _final_model(run_dir: Path) -> Path:
    for d in (run_dir / "final_model", run_dir / "finetune" / "final_model"):
        if d.is_dir():
            return d
    raise FileNotFoundError(f"{run_dir}: no final_model (nor finetune/final_model)")


def _steps(run_dir: Path) -> int:
    """Training steps a run used, over all its stages (their summary.json `steps`)."""
    files = [run_dir / "summary.json"] if (run_dir / "summary.json").exists() else []
    files = files or sorted(run_dir.glob("*/summary.json"))
    if not files:
        raise FileNotFoundError(f"{run_dir}: no summary.json (is the run finished?)")
    return sum(int(json.loads(f.read_text())["steps"]) for f in files)


def structured_rows(out: Path, runs: list[str]) -> list[dict]:
    """Per run group (names up to a `_s<seed>` suffix): Y-PSNR mean and sd over seeds per set
    (from `OUT/RUN.json`), GMACs (masked weights removed), params, non-zero params, steps."""
    import re

    import numpy as np

    groups: dict[str, list[str]] = {}
    for name in runs:
        groups.setdefault(re.sub(r"_s\d+$", "", name), []).append(name)
    res = []
    for group, names in groups.items():
        evals, reps, steps = [], [], []
        for name in names:
            ev_path = out / f"{name}.json"
            if not ev_path.exists():
                raise FileNotFoundError(f"run {name}: {ev_path} is missing")
            sets = json.loads(ev_path.read_text())["sets"]
            if evals and set(sets) != set(evals[0]):
                raise ValueError(
                    f"{ev_path}: sets {sorted(sets)} differ from {names[0]}'s {sorted(evals[0])}"
                )
            evals.append(sets)
            reps.append(complexity.pruned_report(_final_model(out / name)))
            steps.append(_steps(out / name))
        sets = list(evals[0])
        psnr = {s: np.array([e[s]["psnr_y"] for e in evals]) for s in sets}
        res.append(
            {
                "run": group,
                "seeds": len(names),
                "psnr": {
                    s: (float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0)
                    for s, v in psnr.items()
                },
                "gmacs": float(np.mean([r.macs for r in reps])) / 1e9,
                "params": float(np.mean([r.params for r in reps])),
                "nonzero": float(np.mean([r.nonzero_params for r in reps])),
                "steps": (min(steps), max(steps)),
            }
        )
    return res


def structured_markdown(res: list[dict]) -> str:
    sets = list(res[0]["psnr"])
    head = ["run", "seeds", *[f"{s} Y-PSNR" for s in sets], "GMACs", "params", "non-zero", "steps"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in res:
        lo, hi = r["steps"]
        cells = [r["run"], str(r["seeds"])]
        spread = (lambda sd: f" ± {sd:.3f}") if r["seeds"] > 1 else (lambda sd: "")
        cells += [f"{m:.3f}{spread(sd)}" for m, sd in (r["psnr"][s] for s in sets)]
        cells += [
            f"{r['gmacs']:.2f}",
            f"{r['params']:,.0f}",
            f"{r['nonzero']:,.0f}",
            str(lo) if lo == hi else f"{lo}-{hi}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def masked_macs_ratio(directory: Path) -> float:
    """Kept MACs / dense MACs over the convs that have a mask in the model dir."""
    from jaxsr import model_dir

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
    from jaxsr.experiment.report import adaptive_table

    if not doc["runs"]:
        raise ValueError("no runs (evaluate --beta / --alone)")
    return adaptive_table(doc, list(doc["runs"][0]["sets"])) + "\n"


def main(argv: list[str]) -> int:
    if argv[:1] == ["--adaptive"]:
        if len(argv) != 2:
            print("usage: python -m jaxsr.results_table --adaptive EVAL_JSON", file=sys.stderr)
            return 2
        try:
            print(adaptive_markdown(json.loads(Path(argv[1]).read_text())), end="")
        except (FileNotFoundError, ValueError, KeyError) as e:
            print(f"error: {argv[1]}: {e}", file=sys.stderr)
            return 1
        return 0
    if argv[:1] == ["--ratio"] and len(argv) == 2:
        try:
            print(f"{masked_macs_ratio(Path(argv[1])):.6f}")
        except (FileNotFoundError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        return 0
    if argv[:1] == ["--structured"]:
        if len(argv) < 3:
            print(
                "usage: python -m jaxsr.results_table --structured OUT RUN [RUN ...]",
                file=sys.stderr,
            )
            return 2
        try:
            print(structured_markdown(structured_rows(Path(argv[1]), argv[2:])), end="")
        except (FileNotFoundError, ValueError, KeyError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        return 0
    args = [a for a in argv if not a.startswith("--m=")]
    m = next((int(a[4:]) for a in argv if a.startswith("--m=")), 32)
    if len(args) < 2:
        print("usage: python -m jaxsr.results_table OUT RUN [RUN ...] [--m=32]", file=sys.stderr)
        return 2
    try:
        print(markdown(rows(Path(args[0]), args[1:], m)), end="")
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
