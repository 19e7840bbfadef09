"""Records pooled over seeds: groups by (group, budget), mean and sample std."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def groups(records: Sequence[dict]) -> list[tuple[tuple[str, str], list[dict]]]:
    """Records pooled over seeds by (group, budget), in first-appearance order."""
    out: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        out.setdefault((r["run"]["group"], r["run"].get("budget", "")), []).append(r)
    return list(out.items())


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof 1; None for one value)."""
    a = np.asarray(values, np.float64)
    return float(a.mean()), (float(a.std(ddof=1)) if a.size > 1 else None)
