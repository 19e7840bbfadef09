"""Figures of pruning results (matplotlib).

`stage_figures`: the figures a stage's report lends itself to (drawn by the stage driver
after each stage, whatever the method): per-layer N rows -> `layer_n.png`.

`layer_n_plot`: per pruned layer, laid out as Fig. 6 of the SLS paper: layers sorted by
their MACs before pruning, (a) GMACs before / after pruning, (b) N kept per group of M input
channels (marks: M_eff = min(M, input channels per group)), the uniform N of the same budget
as a line, the model's last (upsampling) layer highlighted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def save_figure(fig, out: Path) -> Path:
    """Write `fig` to `out` via a temporary sibling and a rename; close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    tmp = out.with_name(out.stem + ".tmp" + out.suffix)
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(out)
    return out


def layer_n_plot(
    rows: Sequence[dict],
    path: str | os.PathLike,
    title: str = "",
    uniform_n: float | None = None,
) -> Path:
    """Fig. 6 of the SLS paper for `rows` (as `jaxsr.methods.sls.layer_table`: "layer", "n",
    "m", and for panel (a) "gmacs_dense", "gmacs"; "last" marks the highlighted layer) to
    `path` (PNG/SVG/PDF by suffix), written atomically. Layers are sorted by dense MACs
    (largest first); `uniform_n`: the N of uniform pruning at the same budget (a line).
    Rows without MACs give panel (b) alone, in their own order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("layer_n_plot: no layers")
    out = Path(path)
    macs = all("gmacs_dense" in r for r in rows)
    if macs:
        rows = sorted(rows, key=lambda r: -r["gmacs_dense"])
    x = list(range(len(rows)))
    labels = [r["layer"].removesuffix("/kernel") for r in rows]
    hot = [i for i, r in enumerate(rows) if r.get("last")]
    width = max(6.0, 0.22 * len(rows) + 2)
    fig, axes = plt.subplots(2 if macs else 1, 1, figsize=(width, 6.0 if macs else 3.2))
    axes = list(axes) if macs else [axes]
    if macs:
        ax = axes[0]
        ax.bar(x, [r["gmacs_dense"] for r in rows], color="lightgray", label="before pruning")
        ax.bar(x, [r["gmacs"] for r in rows], color="tab:blue", label="after pruning")
        for i in hot:
            ax.bar([i], [rows[i]["gmacs"]], color="tab:red", label="last (upsampling) layer")
        ax.set_ylabel("GMACs (1280x720)")
        ax.set_xticks(x, [""] * len(x))
        ax.legend(fontsize=7, loc="upper right")
        ax.set_title("(a) per-layer GMACs" + (f" - {title}" if title else ""), fontsize=9)
    ax = axes[-1]
    colors = ["tab:red" if i in hot else "tab:blue" for i in x]
    ax.bar(x, [r["n"] for r in rows], color=colors, label="N (kept per group)")
    ax.scatter(x, [r["m"] for r in rows], marker="_", color="black", s=60, label="M")
    if uniform_n is not None:
        ax.axhline(uniform_n, color="saddlebrown", lw=1.2, label=f"uniform N = {uniform_n:g}")
    ax.set_xticks(x, labels, rotation=90, fontsize=6)
    ax.set_ylabel("N")
    ax.set_ylim(0, max(r["m"] for r in rows) + 1)
    ax.legend(fontsize=7, loc="upper right")
    if macs:
        ax.set_title("(b) per-layer N, layers sorted by MACs before pruning", fontsize=9)
    elif title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, out)


def stage_figures(directory: Path, report: dict, title: str) -> dict[str, str]:
    """Draw what `report` (a stage's report.json) holds figures of into `directory`; the
    report's entries naming them ({"plot": path}; {} when nothing to draw). A report with
    per-layer "layers" rows (each with "n" and "m"), "m" (the M of N:M) and "target" (the
    budget as a fraction of the pruned convs' MACs) gets `layer_n.png` (`layer_n_plot`, the
    uniform N of that budget as a line)."""
    rows = report.get("layers")
    if not rows or not all("n" in r and "m" in r for r in rows) or "target" not in report:
        return {}
    target = float(report["target"])
    out = layer_n_plot(
        rows,
        Path(directory) / "layer_n.png",
        f"{title}, target {target:g} of the pruned convs' MACs",
        uniform_n=target * float(report["m"]),
    )
    return {"plot": str(out)}


def psnr_time_plot(points: Sequence[dict], path: str | os.PathLike, title: str = "") -> Path:
    """PSNR against wall time (like SLS Fig. 7, with seconds instead of GMACs): `points`
    ({"label", "seconds", "psnr", "kind"}; kind "adaptive" points are joined in order, others
    are single marks) to `path`, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not points:
        raise ValueError("psnr_time_plot: no points")
    out = Path(path)
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ada = [p for p in points if p["kind"] == "adaptive"]
    if ada:
        ax.plot(
            [p["seconds"] for p in ada],
            [p["psnr"] for p in ada],
            "o-",
            color="tab:blue",
            label="adaptive (beta)",
        )
        for p in ada:
            ax.annotate(
                p["label"],
                (p["seconds"], p["psnr"]),
                fontsize=6,
                xytext=(3, -8),
                textcoords="offset points",
            )
    for p in points:
        if p["kind"] != "adaptive":
            ax.scatter([p["seconds"]], [p["psnr"]], marker="s", color="tab:red")
            ax.annotate(
                p["label"],
                (p["seconds"], p["psnr"]),
                fontsize=6,
                xytext=(3, 3),
                textcoords="offset points",
            )
    ax.set_xlabel("wall time per image (s)")
    ax.set_ylabel("Y-PSNR (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, out)
