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


# SLS paper (CVPR 2022) Table 2, EDSR-baseline x4 at 720p: dense, then uniform N:M on every
# conv but the first and last
SLS_TABLE2 = {None: 114.49, (2, 4): 58.22, (8, 32): 30.09, (4, 32): 16.02, (2, 32): 8.98}


def test_pruned_edsr_baseline_matches_sls_table2_up_to_a_constant(tmp_path):
    """Our count is the paper's minus one constant (0.26 GMACs): the pruned convs agree,
    the difference sits in what N:M does not touch (see README, complexity of pruned models)."""
    import jax

    from jaxsr import model_dir, models
    from jaxsr.sparsity import apply_masks, nm_masks, prunable_paths
    from jaxsr.sparsity.selection import ALL_BUT_ENDS_RULES

    module = models.create("edsr_baseline", 4)
    params = models.init_params(module, jax.random.PRNGKey(0))
    paths = prunable_paths(params, ALL_BUT_ENDS_RULES["edsr_baseline"])
    assert "head_0/kernel" not in paths and "tail_1/kernel" not in paths and len(paths) == 35
    got = {}
    for nm in SLS_TABLE2:
        if nm is None:
            out = model_dir.save_model(tmp_path / "dense", params, "edsr_baseline", 4)
        else:
            masks = nm_masks(params, dict.fromkeys(paths, nm))
            out = model_dir.save_model(
                tmp_path / f"{nm[0]}_{nm[1]}",
                apply_masks(params, masks),
                "edsr_baseline",
                4,
                masks=masks,
            )
        r = complexity.pruned_report(out)
        assert r.dense_macs == complexity.report("edsr_baseline", 4).macs
        got[nm] = r.macs / 1e9
        if nm is not None:
            table = r.table()
            assert f"{nm[0]}:{nm[1]}" in table.splitlines()[3]  # body_0/body_0's pattern
    diffs = [SLS_TABLE2[k] - got[k] for k in SLS_TABLE2]
    assert got[None] == pytest.approx(114.23, abs=0.005)
    for d in diffs:
        assert d == pytest.approx(0.26, abs=0.01), (got, diffs)
    # closed form: dense part (first + last conv) + pruned part * N / M
    rep = complexity.report("edsr_baseline", 4)
    ends = sum(c.macs for c in rep.convs if c.path in ("head_0", "tail_1"))
    for (n, m), v in ((k, got[k]) for k in SLS_TABLE2 if k):
        assert v * 1e9 == pytest.approx(ends + (rep.macs - ends) * n / m, rel=1e-9)


def test_pruned_report_counts_nonzeros_per_call(tmp_path):
    import jax
    import numpy as np

    from jaxsr import model_dir, models

    module = models.create("carn_m", 2)
    params = jax.device_get(models.init_params(module, jax.random.PRNGKey(0)))
    k = np.array(params["b1"]["b1"]["body_0"]["kernel"])
    k[..., : k.shape[-1] // 2] = 0  # half the output filters of a conv shared by 3 calls
    params["b1"]["b1"]["body_0"]["kernel"] = k
    out = model_dir.save_model(tmp_path / "m", params, "carn_m", 2)
    r = complexity.pruned_report(out, (8, 8))
    layer = next(c for c in r.layers if c.path == "b1/b1/body_0")
    assert layer.calls == 3 and layer.nonzero * 2 == layer.size
    assert layer.macs * 2 == layer.dense_macs == 3 * 64 * layer.size
    assert r.dense_macs == complexity.report("carn_m", 2, (8, 8)).macs
    assert r.macs == r.dense_macs - layer.dense_macs // 2
    assert r.nonzero_params == r.params - k.size // 2
