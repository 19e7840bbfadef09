"""Channel/weight pruning ratios and FMP's convergence criteria."""

from __future__ import annotations

import numpy as np
import pytest

from jaxsr import complexity, models
from jaxsr.channels import surgery, trace
from jaxsr.channels.convergence import Ratios, converged


def test_channel_ratio_matches_surgery_and_weight_ratio_hand_count():
    model = models.create("rfdn", scale=4, num_feat=16, num_modules=1)
    graph = trace(model)
    dense = complexity.conv_costs(model, complexity.hd_lr_shape(4))
    ratios = Ratios.build(graph, dense)
    rng = np.random.default_rng(0)
    keep = {
        g.name: (rng.random(g.size) < 0.6) | (np.arange(g.size) == 0)
        for g in graph.groups
        if g.kind != "fixed"
    }
    gc, gw = ratios(keep)
    total = sum(dense.values())
    assert float(gc) == pytest.approx(1 - surgery.macs(graph, keep, dense) / total, rel=1e-6)
    assert float(gw) == 0.0
    # weights: mask 10 of c_0's (1x1, 64 -> 16) weights with all its channels kept
    k = "c_0/kernel"
    live = np.ones(graph.shapes[k], bool)
    live.reshape(-1)[:10] = False
    _, gw = ratios({}, {k: live})
    assert float(gw) == pytest.approx(dense[k] * 10 / live.size / total, rel=1e-6)
    # a masked weight inside a pruned channel counts as channel pruning, not twice
    grp = graph.group("c_0")  # c_0's outputs
    drop = {"c_0": np.arange(grp.size) != 0}
    first_out = grp.index[(k, 3)][0]
    live2 = np.ones(graph.shapes[k], bool)
    live2[..., first_out] = False
    gc2, gw2 = ratios(drop, {k: live2})
    assert float(gw2) == 0.0 and float(gc2) > 0


@pytest.mark.parametrize(
    ("criterion", "gc", "gw", "want"),
    [
        ("channel", 0.3, 0.0, True),
        ("channel", 0.29, 0.5, False),
        ("weight", 0.0, 0.1, True),
        ("weight", 0.9, 0.09, False),
        ("total_fixed", 0.3, 0.1, True),
        ("total_fixed", 0.5, 0.05, False),
        ("total", 0.35, 0.05, True),  # 0.40 >= 0.3 + 0.1
        ("total", 0.2, 0.15, False),  # 0.35 < 0.40
    ],
)
def test_criteria_on_scripted_ratios(criterion, gc, gw, want):
    assert bool(converged(criterion, np.float32(gc), np.float32(gw), 0.3, 0.1)) is want


def test_unknown_criterion():
    with pytest.raises(ValueError, match="criterion 'totl'; known: channel, weight"):
        converged("totl", 0.0, 0.0, 0.1, 0.1)
