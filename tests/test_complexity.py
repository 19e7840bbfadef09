"""Params and MACs: paper figures and a hand-computed tiny case."""

from __future__ import annotations

import pytest

from jaxsr import complexity


@pytest.mark.parametrize("name", ["edsr_baseline", "msrresnet"])
def test_paper_param_counts(name):
    assert complexity.report(name, 4).params == 1_517_571


def test_paper_macs_at_720p():
    edsr = complexity.report("edsr_baseline", 4)
    assert edsr.lr_shape == (180, 320)
    assert edsr.macs / 1e9 == pytest.approx(114.5, abs=0.5)  # papers: ~114.5 G
    assert complexity.report("msrresnet", 4).macs / 1e9 == pytest.approx(146, abs=0.5)
    assert complexity.report("carn_m", 4).macs / 1e9 == pytest.approx(32.5, abs=0.1)  # CARN paper
    assert complexity.report("imdn", 4).macs / 1e9 == pytest.approx(40.9, abs=0.1)  # IMDN paper


def test_hand_computed_edsr_x2_small():
    # 1 block, 8 features, x2, LR 5x7: head 3->8, 2 block convs, body conv, up conv 8->32, tail 8->3
    r = complexity.report("edsr_baseline", 2, (5, 7), num_feat=8, num_block=1)
    px = 5 * 7
    want = px * 9 * (3 * 8 + 8 * 8 * 3 + 8 * 32) + 4 * px * 9 * 8 * 3
    assert r.macs == want
    assert r.params == (9 * 3 * 8 + 8) + 3 * (9 * 64 + 8) + (9 * 8 * 32 + 32) + (9 * 8 * 3 + 3)


def test_shared_weights_counted_per_call():
    r = complexity.report("carn_m", 2, (8, 8))
    calls = [c for c in r.convs if c.path == "b1/b1/body_0"]
    assert len(calls) == 3  # one shared residual unit, applied three times
    assert sum(c.params for c in {c.path: c for c in r.convs}.values()) == r.params
    assert "groups" in r.table().splitlines()[1]
