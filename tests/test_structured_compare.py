"""The FMP / L1 / dense comparison config (equal budgets, matched FLOPs) and its table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxsr import complexity, model_dir, models, results_table
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


def test_structured_table_pools_seeds(tmp_path):
    """Mean and sd over the `_s<k>` runs, GMACs and params of the final models, steps summed
    over the stages."""
    scores = {"a_s0": 30.0, "a_s1": 31.0, "b_s0": 28.0}
    for i, (name, psnr) in enumerate(scores.items()):
        run = tmp_path / name
        feat = 8 if name.startswith("a") else 12
        model = models.create("esrb", 4, num_feat=feat, num_block=1)
        sub = run / "finetune" if name.startswith("a") else run
        model_dir.save_model(
            sub / "final_model",
            models.init_params(model, i),
            "esrb",
            4,
            {"num_feat": feat, "num_block": 1},
        )
        (sub / "summary.json").write_text(json.dumps({"steps": 10 + i}))
        if name.startswith("a"):
            (run / "search").mkdir()
            (run / "search" / "summary.json").write_text(json.dumps({"steps": 5}))
        sets = {"Set5": {"psnr_y": psnr, "ssim_y": 0.9}}
        (tmp_path / f"{name}.json").write_text(json.dumps({"sets": sets}))
    rows = results_table.structured_rows(tmp_path, list(scores))
    assert [r["run"] for r in rows] == ["a", "b"] and [r["seeds"] for r in rows] == [2, 1]
    mean, sd = rows[0]["psnr"]["Set5"]
    assert mean == pytest.approx(30.5) and sd == pytest.approx(np.std([30.0, 31.0], ddof=1))
    assert rows[0]["steps"] == (15, 16) and rows[1]["steps"] == (12, 12)
    want = _macs(12, 1) / 1e9
    assert rows[1]["gmacs"] == pytest.approx(want)
    text = results_table.structured_markdown(rows)
    assert "| a | 2 | 30.500 ± 0.707 |" in text and "| 15-16 |" in text
    with pytest.raises(FileNotFoundError, match="c_s0.json is missing"):
        results_table.structured_rows(tmp_path, ["c_s0"])
