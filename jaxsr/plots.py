"""Plots of pruning results (matplotlib: the optional extra `jaxsr[plots]`).

`layer_n_plot`: N per pruned layer, like Fig. 6 of the SLS paper (bars: N kept per group of
M input channels; marks: M_eff = min(M, input channels per group)).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def _save(fig, out: Path) -> Path:
    """Write `fig` to `out` via a temporary sibling and a rename; close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    tmp = out.with_name(out.stem + ".tmp" + out.suffix)
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(out)
    return out


def layer_n_plot(rows: Sequence[dict], path: str | os.PathLike, title: str = "") -> Path:
    """Bar chart of `rows` ({"layer", "n", "m"}, as `jaxsr.methods.sls.layer_table`) to
    `path` (PNG/SVG/PDF by suffix); written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("layer_n_plot: no layers")
    out = Path(path)
    x = list(range(len(rows)))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.22 * len(rows) + 2), 3.2))
    ax.bar(x, [r["n"] for r in rows], color="tab:blue", label="N (kept per group)")
    ax.scatter(x, [r["m"] for r in rows], marker="_", color="tab:red", s=60, label="M")
    ax.set_xticks(x, [r["layer"].removesuffix("/kernel") for r in rows], rotation=90, fontsize=6)
    ax.set_ylabel("N")
    ax.set_ylim(0, max(r["m"] for r in rows) + 1)
    ax.legend(fontsize=7, loc="upper right")
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, out)


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
    return _save(fig, out)
