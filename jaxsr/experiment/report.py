"""A results folder from run records: `results.json`, `results.csv`, markdown tables in the
papers' layout (mean ± sample std over seeds) and plots; `report.md` puts them together
(what `RESULTS.md` includes, `python -m jaxsr.report --results_md`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jaxsr import files, metrics
from jaxsr.experiment import plots
from jaxsr.experiment.spec import Spec
from jaxsr.experiment.stats import groups, mean_std

CSV_FIELDS = (
    "name",
    "group",
    "budget",
    "seed",
    "method",
    "model",
    "scale",
    "steps",
    "sparsity_convs",
    "sparsity_masked",
    "params",
    "nonzero_params",
    "gmacs",
    "dense_gmacs",
    "train_wall_s",
    "eval_wall_s",
    "hardware",
    "commit",
)


def _row(r: dict) -> dict[str, Any]:
    """The CSV fields of a record that are not metrics (identity, complexity, times)."""
    hw = r.get("hardware", {})
    return {
        "name": r["name"],
        "group": r["run"]["group"],
        "budget": r["run"].get("budget", ""),
        "seed": r["run"].get("seed", 0),
        "method": r.get("method", r.get("baseline", "")),
        **{k: r.get(k, "") for k in CSV_FIELDS[CSV_FIELDS.index("model") : -2]},
        "hardware": f"{hw.get('cpu', '')}, {hw.get('cores', '')} cores, {hw.get('devices', '')}",
        "commit": (r.get("code") or {}).get("commit") or "",
    }


def flat_rows(records: Sequence[dict], sets: Sequence[str]) -> list[dict[str, Any]]:
    """One flat row per record (the CSV): identity, complexity, times, metrics per set; an
    adaptive record gives one row per beta and per candidate alone."""
    rows = []
    for r in records:
        if "adaptive" in r:
            rows += _adaptive_rows(r, sets)
            continue
        row = _row(r)
        for s in sets:
            for k in metrics.KEYS:
                row[f"{s}/{k}"] = r["eval"].get(s, {}).get(k, "")
        rows.append(row)
    return rows


def _label(entry: dict) -> str:
    """ "beta 0.05" or "<candidate> alone" (a candidate's run name, or bicubic)."""
    if "beta" in entry:
        return f"beta {entry['beta']:g}"
    name = entry["alone"]
    return f"{Path(name).parent.name if name != 'bicubic' else name} alone"


def _adaptive_rows(r: dict, sets: Sequence[str]) -> list[dict[str, Any]]:
    """CSV rows of an adaptive record: one per beta and per candidate alone, with the
    realised GMACs per image of each set (`SET/gmacs`) and the shares of tiles."""
    out = []
    for e in r["adaptive"]["runs"]:
        row = _row(r)
        row.update(name=f"{r['name']}/{_label(e).replace(' ', '_')}", budget=_label(e))
        for s in sets:
            x = e["sets"].get(s, {})
            for k in (*metrics.KEYS, "gmacs"):
                row[f"{s}/{k}"] = x.get(k, "")
            row[f"{s}/share"] = " ".join(f"{v:.4f}" for v in x.get("share", []))
        out.append(row)
    return out


def adaptive_table(doc: dict, sets: Sequence[str]) -> str:
    """Markdown of an adaptive evaluation (`jaxsr.evaluate --beta ... --alone`, a record's
    "adaptive"): per beta and per candidate alone (same tiles), Y-PSNR / SSIM / realised
    GMACs per image / SR seconds per set, and the share of tiles each candidate got (pooled
    over the sets)."""
    names = [Path(c).parent.name if c != "bicubic" else c for c in doc["candidates"]]
    head = ["run", *[f"{s} Y-PSNR / SSIM / GMACs / s" for s in sets]]
    head.append("tiles: " + " / ".join(names))
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for e in doc["runs"]:
        cells = [_label(e)]
        for s in sets:
            x = e["sets"][s]
            cells.append(
                f"{x['psnr_y']:.3f} / {x['ssim_y']:.4f} / {x['gmacs']:.2f} / {x['sr_seconds']:.1f}"
            )
        tiles = [sum(e["sets"][s]["tiles"][i] for s in sets) for i in range(len(names))]
        total = sum(tiles) or 1
        cells.append(" / ".join(f"{t / total:.2f}" for t in tiles) if "beta" in e else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(values: Sequence[float], digits: int) -> str:
    m, s = mean_std(values)
    return f"{m:.{digits}f}" if s is None else f"{m:.{digits}f} ± {s:.{digits}f}"


def table(records: Sequence[dict], sets: Sequence[str], space: str = "y") -> str:
    """Markdown: one row per (method, budget), PSNR / SSIM per set in `space` ("y" or "rgb")
    as mean ± std over the seeds, with non-zero params, GMACs (1280x720 output), sparsity
    of the conv weights and training steps."""
    head = ["method", "budget", "seeds", "steps", "sparsity: masked / convs", "non-zero params"]
    head += ["GMACs"]
    head += [f"{s} PSNR / SSIM" for s in sets]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for (group, budget), recs in groups(records):
        trained = "steps" in recs[0]
        cells = [
            group,
            budget or "",
            str(len(recs)) if trained else "",
            str(recs[0]["steps"]) if trained else "",
            _sparsity(recs),
            f"{mean_std([r['nonzero_params'] for r in recs])[0]:,.0f}"
            if "nonzero_params" in recs[0]
            else "",
            f"{mean_std([r['gmacs'] for r in recs])[0]:.2f}" if "gmacs" in recs[0] else "",
        ]
        for s in sets:
            p = [r["eval"][s][f"psnr_{space}"] for r in recs]
            q = [r["eval"][s][f"ssim_{space}"] for r in recs]
            cells.append(f"{_cell(p, 3)} / {_cell(q, 4)}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _sparsity(recs: Sequence[dict]) -> str:
    """ "masked / convs" sparsity (mean over seeds): of the weights a method masks (its
    prunable set) and of all conv weights; "-" where a model has no masks."""
    if "sparsity_convs" not in recs[0]:
        return ""
    convs = f"{100 * mean_std([r['sparsity_convs'] for r in recs])[0]:.2f} %"
    if recs[0].get("sparsity_masked") is None:
        return f"- / {convs}"
    return f"{100 * mean_std([r['sparsity_masked'] for r in recs])[0]:.2f} % / {convs}"


def seed_table(records: Sequence[dict], sets: Sequence[str], metric: str) -> str:
    """Markdown: every run's `metric` per set (the spread behind the means)."""
    head = ["run", "seed", *sets]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in records:
        if "steps" not in r:
            continue
        vals = [f"{r['eval'][s][metric]:.3f}" for s in sets]
        lines.append(
            f"| {r['run']['group']} {r['run'].get('budget', '')} | "
            f"{r['run']['seed']} | " + " | ".join(vals) + " |"
        )
    return "\n".join(lines)


def paired_table(records: Sequence[dict], sets: Sequence[str], metric: str) -> str:
    """Markdown: for every pair of trained (method, budget) groups with the same budget
    label (methods compared at equal budgets), the later minus the earlier, paired by seed —
    `metric` difference per set, mean ± sample std over the seeds both have (the spread of
    the difference, not of each side). Empty when no two groups share a budget."""
    gs = [(k, {r["run"]["seed"]: r for r in recs}) for k, recs in groups(records)]
    gs = [(k, by) for k, by in gs if "steps" in next(iter(by.values()))]
    if len(gs) < 2:
        return ""

    def label(k: tuple[str, str]) -> str:
        return f"{k[0]} {k[1]}".strip()

    head = ["difference", "seeds", *[f"{s} Δ" for s in sets]]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for j, (kb, by) in enumerate(gs):
        for ka, ref in gs[:j]:
            seeds = sorted(set(by) & set(ref))
            if not seeds or ka[1] != kb[1]:
                continue
            cells = [f"{label(kb)} − {label(ka)}", str(len(seeds))]
            for s in sets:
                d = [by[k]["eval"][s][metric] - ref[k]["eval"][s][metric] for k in seeds]
                m, sd = mean_std(d)
                cells.append(f"{m:+.3f}" if sd is None else f"{m:+.3f} ± {sd:.3f}")
            lines.append("| " + " | ".join(cells) + " |")
    if len(lines) == 2:
        return ""
    return f"{metric} differences at equal budgets, paired by seed:\n\n" + "\n".join(lines)


def _csv(rows: list[dict], sets: Sequence[str]) -> str:
    keys = metrics.KEYS
    if any(r.get("model") == "adaptive" for r in rows):
        keys += ("gmacs", "share")
    fields = list(CSV_FIELDS) + [f"{s}/{k}" for s in sets for k in keys]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return buf.getvalue()


def _fmt_s(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s"


def eval_agreement(records: Sequence[dict]) -> str:
    """How the runner's evaluation of each final model (its own process, all sets) agrees with
    the trainer's evaluation at the run's last step (the sets it evaluated in training)."""
    diffs, runs = [], 0
    for r in records:
        c = r.get("curves") or {}
        if not c.get("eval") or c["eval_step"][-1] != r.get("steps"):
            continue
        runs += 1
        for k, v in c["eval"][-1].items():
            s, _, m = k.partition("/")
            if m in r["eval"].get(s, {}):
                diffs.append(abs(float(v) - r["eval"][s][m]))
    if not diffs:
        return ""
    return (
        f"- independent evaluation of the final models vs the trainer's own at the last step: "
        f"max |difference| {max(diffs):.2g} over {len(diffs)} values of {runs} runs"
    )


def summary_lines(records: Sequence[dict]) -> list[str]:
    """Hardware, commits and wall times of the records (for the report's header)."""
    trained = [r for r in records if "steps" in r]
    if not trained:
        return []
    hw = sorted(
        {
            f"{r['hardware']['cpu']} ({r['hardware']['cores']} cores, {r['hardware']['devices']})"
            for r in trained
        }
    )
    commits = sorted(
        {
            (r["code"]["commit"] or "?")[:7] + ("+dirty" if r["code"]["dirty"] else "")
            for r in trained
        }
    )
    dates = sorted({r.get("date", "") for r in trained})
    walls = [r["train_wall_s"] for r in trained]
    out = [
        f"- hardware: {'; '.join(hw)}",
        f"- code: commit {', '.join(commits)}; dates {', '.join(d for d in dates if d)}",
        f"- training wall time per run: {_fmt_s(min(walls))} – {_fmt_s(max(walls))} "
        f"(total {_fmt_s(sum(walls))}; evaluation "
        f"{_fmt_s(sum(r['eval_wall_s'] for r in trained))})",
    ]
    agree = eval_agreement(trained)
    return out + ([agree] if agree else [])


def event_lines(records: Sequence[dict]) -> list[str]:
    """Per run: the methods' one-off events (e.g. SLS's budget_met), at their step within
    their stage and as a fraction of the stage's steps (where a search ended in the run)."""
    out = []
    for r in records:
        ev = r.get("events") or {}
        steps = int(r.get("steps") or 0)

        def at(k: str, v: int, steps: int = steps) -> str:
            if v < 0:
                return f"{k} never (in {steps} steps)"
            one_stage = "/" not in k  # a later stage's steps are not the record's
            share = f" ({100 * v / steps:.0f} % of {steps})" if steps > 0 and one_stage else ""
            return f"{k} at step {v}{share}"

        if ev:
            out.append(f"- {r['name']}: " + ", ".join(at(k, v) for k, v in sorted(ev.items())))
    return out


def write(out: Path, spec: Spec, records: Sequence[dict]) -> Path:
    """Write results.json, results.csv, the tables, the plots and report.md into `out`;
    returns report.md's path."""

    sets = list(spec.sets)
    rows = flat_rows(records, sets)
    files.write_text_atomic(out / "results.json", json.dumps(rows, indent=1) + "\n")
    files.write_text_atomic(out / "results.csv", _csv(rows, sets))
    adaptive = [r for r in records if "adaptive" in r]
    plain = [r for r in records if "adaptive" not in r]  # evaluated as one model each
    made = []
    if plain and "pareto" in spec.plots:
        made.append(("PSNR vs GMACs", plots.pareto(plain, sets, spec.metric, out / "pareto.png")))
    if adaptive and "pareto" in spec.plots:
        path = plots.adaptive(adaptive, sets, out / "adaptive.png")
        made.append(("Y-PSNR vs realised GMACs", path))
    if plain and "sparsity" in spec.plots and any("layers" in r for r in plain):
        made.append(("per-layer sparsity", plots.layer_sparsity(plain, out / "sparsity.png")))
    if records and "curves" in spec.plots and any("curves" in r for r in records):
        made.append(("training curves", plots.curves(records, out / "curves.png")))
    trained = [r for r in records if "steps" in r]
    n_todo = len(spec.runs) - len(trained)
    text = [spec.description.strip(), ""]
    text += summary_lines(records)
    if n_todo:
        text.append(f"- **incomplete: {n_todo} of {len(spec.runs)} runs not finished yet**")
    for r in adaptive:
        text += [
            "",
            f"{r['run']['group']} (run {r['name']}, seed {r['run']['seed']}): every beta, and "
            "every candidate alone on the same tiles; GMACs are realised per image (the "
            "chosen candidates on their windows + the estimators), s = SR seconds per set:",
            "",
            adaptive_table(r["adaptive"], sets),
        ]
    if plain:
        text += [
            "",
            "Y channel (PSNR dB / SSIM, mean ± sample std over seeds):",
            "",
            table(plain, sets, "y"),
            "",
            "RGB:",
            "",
            table(plain, sets, "rgb"),
            "",
            paired_table(plain, sets, spec.metric),
            "",
            f"Every run ({spec.metric}):",
            "",
            seed_table(plain, sets, spec.metric),
        ]
    events = event_lines(records)
    if events:
        text += ["", "Events (step within the stage):", "", *events]
    text.append("")
    text += [f"![{title}]({p.name})" for title, p in made]
    text += ["", "Records: `runs/*.json`; flat table: `results.csv`."]
    path = out / "report.md"
    files.write_text_atomic(path, "\n".join(text).strip() + "\n")
    return path
