"""The FMP / L1 / dense comparison config (equal budgets, matched FLOPs)."""

from __future__ import annotations

import pytest

from jaxsr import complexity, models
from jaxsr.configs_lib import load_sibling

from .conftest import REPO

CMP = load_sibling(str(REPO / "configs" / "structured_compare.py"), "structured_compare.py")


def _macs(feat: int, blocks: int) -> float:
    m = models.create("esrb", 4, num_feat=feat, num_block=blocks)
    return sum(complexity.conv_costs(m, complexity.hd_lr_shape(4)).values())


def test_equal_budgets_and_matched_flops():
    args = "feat=16,blocks=1,steps=100,first=30,target=0.4"
    fmp = CMP.get_config(f"method=fmp,{args}")
    l1 = CMP.get_config(f"method=l1,{args}")
    dense = CMP.get_config(f"method=dense,{args}")
    assert fmp.fmp.search_steps + fmp.train.steps == 100
    assert l1.l1.pretrain_steps + l1.train.steps == 100 and l1.l1.target == 0.4
    assert dense.train.steps == 100
    assert fmp.fmp.criterion == "total"
    assert fmp.fmp.channel_ratio + fmp.fmp.weight_ratio == pytest.approx(1 - 0.4)
    for c in (fmp, l1, dense):  # one recipe
        assert (c.optim.lr, c.optim.schedule, c.train.loss) == (5e-4, "constant", "l1")
        assert (c.data.hr_patch, c.data.batch_size) == (96, 16)
    # the dense baseline's width has the MACs closest to 0.4 x ESRB-1-16's
    w = dense.model.overrides["num_feat"]
    goal = 0.4 * _macs(16, 1)
    assert all(abs(_macs(w, 1) - goal) <= abs(_macs(v, 1) - goal) for v in (w - 1, w + 1))
    for bad, msg in (
        ("method=sls", "method='sls'; known: fmp, l1, dense"),
        ("first=0", r"first=0 must be in \(0, steps=1500\)"),
        ("target=1.0", r"target=1.0 must be in \(0, 1\)"),
    ):
        with pytest.raises(ValueError, match=msg):
            CMP.get_config(bad)
