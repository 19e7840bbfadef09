"""Weight-magnitude distribution of a model's prunable params: what a pruning rate or a
freeze threshold (DUPru's EPS) will touch.

    python -m jaxsr.weight_stats --weights=MODEL_DIR [--rules='body_\\d+/conv[12]/kernel']

Prints, over the selected weights (default: the model's prunable rules), the |w| quantiles,
the fraction below candidate thresholds, and per layer the median and the 2 % quantile.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxsr import cli, model_dir
from jaxsr.sparsity.selection import path_str, prunable_paths, rules_for

QUANTILES = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5)
THRESHOLDS = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3)


def magnitudes(params: Any, rules: Sequence[Any]) -> dict[str, np.ndarray]:
    """|w| (flattened, float64) of every param the rules select, by path."""
    from flax import traverse_util

    flat = {path_str(k): v for k, v in traverse_util.flatten_dict(params).items()}
    return {
        p: np.abs(np.asarray(flat[p], np.float64)).ravel() for p in prunable_paths(params, rules)
    }


def summary(mags: dict[str, np.ndarray], nonzero_only: bool = True) -> dict[str, Any]:
    """Quantiles of all selected |w| (zeros of pruned weights left out by default), the
    fraction below each of THRESHOLDS, and per-layer median / 2 % quantile."""
    pick = (lambda a: a[a > 0]) if nonzero_only else (lambda a: a)
    allw = np.concatenate([pick(a) for a in mags.values()])
    return {
        "count": int(allw.size),
        "rms": float(np.sqrt(np.mean(allw**2))),
        "quantiles": {q: float(np.quantile(allw, q)) for q in QUANTILES},
        "below": {t: float(np.mean(allw < t)) for t in THRESHOLDS},
        "layers": {
            p: (float(np.median(pick(a))), float(np.quantile(pick(a), 0.02)))
            for p, a in mags.items()
        },
    }


def main() -> None:
    from absl import flags

    f = flags.FLAGS
    with cli.checking():
        _, params, meta = model_dir.load_model(f.weights)
        rules = rules_for(meta["model"], f.rules or None)
    s = summary(magnitudes(params, rules))
    print(f"{s['count']} non-zero selected weights, rms |w| {s['rms']:.3g}")
    print("quantiles of |w|: " + ", ".join(f"{q:g}: {v:.2e}" for q, v in s["quantiles"].items()))
    print("fraction below:   " + ", ".join(f"{t:g}: {v:.4f}" for t, v in s["below"].items()))
    for p, (med, q2) in s["layers"].items():
        print(f"  {p:<36} median {med:.2e}  2% quantile {q2:.2e}")


def run() -> None:
    from absl import flags

    flags.DEFINE_string("weights", None, "jaxsr model directory", required=True)
    flags.DEFINE_multi_string("rules", [], "prunable-path regex (default: the model's rules)")
    cli.main(main)


if __name__ == "__main__":
    run()
