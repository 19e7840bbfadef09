"""Plots of an experiment's records: quality vs GMACs (with the Pareto front), per-layer
sparsity per method, training curves. Each is written atomically (`jaxsr.figures.save_figure`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxsr.experiment.stats import groups, mean_std
from jaxsr.figures import save_figure


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point dominates (fewer or equal GMACs and higher or
    equal quality, one of them strictly), sorted by GMACs."""
    idx = []
    for i, (c, q) in enumerate(points):
        dominated = any(
            (c2 <= c and q2 >= q) and (c2 < c or q2 > q)
            for j, (c2, q2) in enumerate(points)
            if j != i
        )
        if not dominated:
            idx.append(i)
    return sorted(idx, key=lambda i: points[i][0])


def pareto(records: Sequence[dict], sets: Sequence[str], metric: str, path: Path) -> Path:
    """One panel per set: `metric` (mean ± std over seeds) against GMACs per (method, budget);
    a method's budgets joined by a line; the Pareto front dashed. Baselines without GMACs
    (bicubic) are a horizontal line."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(sets), figsize=(4.2 * len(sets), 3.4), squeeze=False)
    gs = groups(records)
    methods = list(dict.fromkeys(g for (g, _), _ in gs))
    colors = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    for ax, s in zip(axes[0], sets, strict=True):
        pts, by_method = [], {}
        for (g, b), recs in gs:
            q, sd = mean_std([r["eval"][s][metric] for r in recs])
            if "gmacs" not in recs[0]:
                ax.axhline(q, color="gray", lw=0.8, ls=":", label=g)
                continue
            c = mean_std([r["gmacs"] for r in recs])[0]
            pts.append((c, q))
            by_method.setdefault(g, []).append((c, q, sd or 0.0, b))
        for g, ps in by_method.items():
            ps.sort()
            ax.errorbar(
                [p[0] for p in ps],
                [p[1] for p in ps],
                yerr=[p[2] for p in ps],
                color=colors[g],
                marker="o",
                ms=4,
                capsize=2,
                lw=1,
                label=g,
            )
            for c, q, _, b in ps:
                if b:
                    ax.annotate(b, (c, q), fontsize=6, xytext=(3, 3), textcoords="offset points")
        front = pareto_front(pts)
        if len(front) > 1:
            ax.plot(
                [pts[i][0] for i in front],
                [pts[i][1] for i in front],
                "k--",
                lw=0.7,
                label="Pareto front",
            )
        ax.set_title(s, fontsize=9)
        ax.set_xlabel("GMACs (1280x720 output)")
        ax.set_ylabel(metric.replace("_", "-").upper().replace("-Y", "-Y (dB)"))
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    return save_figure(fig, path)


def layer_sparsity(records: Sequence[dict], path: Path) -> Path:
    """Sparsity of every conv per (method, budget), mean over seeds; N:M patterns noted."""
    plt = _plt()
    gs = [(k, recs) for k, recs in groups(records) if "layers" in recs[0]]
    layers = [ly["layer"] for ly in gs[0][1][0]["layers"]]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.25 * len(layers) + 2), 3.6))
    x = np.arange(len(layers))
    width = 0.8 / len(gs)
    for i, ((g, b), recs) in enumerate(gs):
        names = [ly["layer"] for ly in recs[0]["layers"]]
        if names != layers:  # another architecture (structured pruning): its own x positions
            names = layers
        sp = np.mean([[ly["sparsity"] for ly in r["layers"]][: len(layers)] for r in recs], 0)
        ax.bar(x + (i - (len(gs) - 1) / 2) * width, 100 * sp, width, label=f"{g} {b}".strip())
    ax.set_xticks(x, [n.removesuffix("/kernel") for n in layers], rotation=90, fontsize=6)
    ax.set_ylabel("zero weights (%)")
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)


def curves(records: Sequence[dict], path: Path) -> Path:
    """Training loss over the cumulative steps, per (method, budget): mean over seeds, the
    min-max band of the seeds shaded (seeds share their log steps)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for i, ((g, b), recs) in enumerate(groups(records)):
        cs = [r["curves"] for r in recs if r.get("curves") and r["curves"]["step"]]
        if not cs:
            continue
        n = min(len(c["step"]) for c in cs)
        x = np.asarray(cs[0]["step"][:n])
        y = np.asarray([c["loss"][:n] for c in cs])
        color = f"C{i % 10}"
        ax.plot(x, y.mean(0), color=color, lw=1, label=f"{g} {b}".strip())
        if len(cs) > 1:
            ax.fill_between(x, y.min(0), y.max(0), color=color, alpha=0.2, lw=0)
    ax.set_xlabel("training step (all stages)")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def adaptive(records: Sequence[dict], sets: Sequence[str], path: Path) -> Path:
    """One panel per set: Y-PSNR against realised GMACs per image of each adaptive record's
    betas (a line, labelled) and of its candidates alone on the same tiles (markers)."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(sets), figsize=(4.2 * len(sets), 3.4), squeeze=False)
    for ax, s in zip(axes[0], sets, strict=True):
        for i, r in enumerate(records):
            color = f"C{i % 10}"
            runs = r["adaptive"]["runs"]
            b = [e for e in runs if "beta" in e]
            xs = [e["sets"][s]["gmacs"] for e in b]
            ys = [e["sets"][s]["psnr_y"] for e in b]
            ax.plot(xs, ys, "o-", color=color, ms=4, lw=1, label=f"{r['name']}: beta")
            for e, x, y in zip(b, xs, ys, strict=True):
                ax.annotate(
                    f"{e['beta']:g}", (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points"
                )
            for e in runs:
                if "alone" in e:
                    name = e["alone"]
                    name = Path(name).parent.name if name != "bicubic" else name
                    x, y = e["sets"][s]["gmacs"], e["sets"][s]["psnr_y"]
                    ax.plot([x], [y], "s", color="gray", ms=4)
                    ax.annotate(
                        name,
                        (x, y),
                        fontsize=6,
                        xytext=(3, -8),
                        textcoords="offset points",
                        color="gray",
                    )
        ax.set_title(s, fontsize=9)
        ax.set_xlabel("GMACs per image (realised)")
        ax.set_ylabel("PSNR-Y (dB)")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    return save_figure(fig, path)
