"""Channel groups traced from the models, and surgery into physically smaller models."""

from __future__ import annotations

import zlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsr import complexity, models
from jaxsr.channels import surgery, trace

CASES = [(n, 4) for n in models.names()] + [("edsr_baseline", 3), ("carn_m", 3), ("msrresnet", 3)]


def _random_keep(graph, rng, min_units: int = 1) -> dict:
    keep = {}
    for g in graph.groups:
        if g.kind == "fixed":
            continue
        k = np.zeros(g.size, bool)
        n = int(rng.integers(min(min_units, g.size), g.size + 1))
        k[rng.choice(g.size, n, replace=False)] = True
        keep[g.name] = k
    return keep


@pytest.mark.slow
@pytest.mark.parametrize(("name", "scale"), CASES)
def test_surgery_is_exact_on_every_model(name, scale):
    """Masked full-size model == physically pruned registry model; MACs as jaxsr.complexity."""
    model = models.create(name, scale=scale)
    shapes, tree = jax.tree.flatten(models.abstract_params(model))
    rng = np.random.default_rng(7)  # random biases too: a kept bias must stay with its filter

    def draw(shape):  # kernels ~ N(0, 1/fan_in): activations stay O(1) even in ESRB-6-256
        std = 1 / np.sqrt(np.prod(shape[:-1])) if len(shape) > 1 else 0.1
        return (std * rng.standard_normal(shape)).astype(np.float32)

    params = tree.unflatten([draw(s.shape) for s in shapes])
    graph = trace(model)
    keep = _random_keep(graph, np.random.default_rng(zlib.crc32(name.encode()) + scale))
    small = models.create(name, scale=scale, widths=surgery.widths(graph, keep))
    pruned = surgery.prune_params(params, graph, keep)
    assert jax.tree.map(np.shape, pruned) == jax.tree.map(np.shape, models.abstract_params(small))
    assert models.num_params(pruned) < models.num_params(params)
    x = np.random.default_rng(1).uniform(size=(1, 17, 19, 3)).astype(np.float32)
    y_masked = jax.jit(model.apply)({"params": surgery.mask_params(params, graph, keep)}, x)
    y_small = jax.jit(small.apply)({"params": pruned}, x)
    tol = 1e-5 * float(jnp.abs(y_masked).max())
    np.testing.assert_allclose(np.asarray(y_small), np.asarray(y_masked), rtol=0, atol=tol)
    shape = complexity.hd_lr_shape(scale)
    dense = complexity.conv_costs(model, shape)
    assert surgery.macs(graph, keep, dense) == pytest.approx(
        sum(complexity.conv_costs(small, shape).values()), rel=1e-9
    )


def _producers(graph, name):
    return {p.removesuffix("/kernel") for p in graph.group(name).producers}


def test_groups_follow_the_architectures():
    """Ties read off the published architectures by hand."""
    rfdn = trace(models.create("rfdn", scale=4))
    # the trunk: fea_conv, the three residual convs of the first block, and LR_conv (+ fea)
    assert _producers(rfdn, "fea_conv") == {
        "fea_conv", "B1/c1_r", "B1/c2_r", "B1/c3_r", "LR_conv"
    }  # fmt: skip
    # a block's output: its c5 and the ESA gate conv4 (x * sigmoid(c4)), the next block's c?_r
    assert _producers(rfdn, "B1/c5") == {"B1/c5", "B1/esa/conv4", *(f"B2/c{i}_r" for i in "123")}
    assert _producers(rfdn, "B1/esa/conv3_") == {"B1/esa/conv3_", "B1/esa/conv_f"}  # c3 + cf
    assert rfdn.group("upsampler_0").kind == "fixed"  # pixel shuffle to the RGB output
    assert rfdn.group("B1/c1_d").size == 25 and rfdn.group("B1/esa/conv1").size == 12
    # the concat feeding c5: d1 d2 d3 r4 at input offsets 0, 25, 50, 75
    c5_in = rfdn.group("B1/c2_d").index[("B1/c5/kernel", 2)]
    assert [int(u[0]) for u in c5_in] == list(range(25, 50))

    edsr = trace(models.create("edsr_baseline", scale=4))
    assert _producers(edsr, "head_0") == {
        "head_0", "body_16", *(f"body_{i}/body_2" for i in range(16))
    }  # fmt: skip
    sub = edsr.group("tail_0_0")  # conv 64 -> 256, pixel shuffle 2: unit u = channels 4u..4u+3
    assert sub.kind == "subpixel" and sub.size == 64
    assert [list(u) for u in sub.index[("tail_0_0/kernel", 3)][:2]] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert [list(u) for u in sub.index[("tail_0_2/kernel", 2)][:2]] == [[0], [1]]

    carn_m = trace(models.create("carn_m", scale=4))
    # groups=4 convs: output j of each of the 4 conv groups goes together (16 units of 4)
    g = carn_m.group("b1/b1/body_0")
    assert g.size == 16 and list(g.index[("b1/b1/body_0/kernel", 3)][0]) == [0, 16, 32, 48]
    assert carn_m.convs["b1/b1/body_0/kernel"]["groups"] == 4
    # the shared residual block is used three times; its weights appear once per group
    assert g.index[("b1/b1/body_0/kernel", 3)][0].size == 4

    imdn = trace(models.create("imdn", scale=4))
    # c1's 64 outputs split 16 (distilled, to the concat/CCA/c5) + 48 (to c2)
    assert imdn.group("IMDB1/c1").size == 16 and imdn.group("IMDB1/c1#2").size == 48
    assert imdn.convs["IMDB1/c1/kernel"]["segments"] == (16,)
    assert _producers(imdn, "IMDB1/c1") == {"IMDB1/c1", "IMDB1/cca/conv_du_2"}


def test_imdn_segment_widths():
    imdn = models.create("imdn", scale=2)
    graph = trace(imdn)
    keep = {"IMDB2/c1": np.arange(16) < 10, "IMDB2/c1#2": np.arange(48) < 30}
    w = surgery.widths(graph, keep)
    assert w["IMDB2/c1"] == (10, 30)
    assert w["IMDB2/cca/conv_du_2"] == 58  # the CCA gate of the concat (10 + 16 + 16 + 16)
    assert "IMDB1/c1" not in w


def test_bad_keep_sets_and_widths_are_rejected():
    model = models.create("rfdn", scale=4)
    graph = trace(model)
    with pytest.raises(ValueError, match="no channel group 'nope'"):
        surgery.axis_masks(graph, {"nope": np.ones(3, bool)})
    with pytest.raises(ValueError, match="fixed"):
        surgery.axis_masks(graph, {"upsampler_0": np.array([True, True, False])})
    with pytest.raises(ValueError, match="removes every unit"):
        surgery.axis_masks(graph, {"B1/c1_d": np.zeros(25, bool)})
    with pytest.raises(ValueError, match=r"expected bool \(25,\)"):
        surgery.axis_masks(graph, {"B1/c1_d": np.ones(24, bool)})
    with pytest.raises(ValueError, match=r"widths name no conv: \['B1/c9'\]"):
        models.create("rfdn", scale=4, widths={"B1/c9": 3})
    with pytest.raises(ValueError, match="inconsistent channels"):  # c1_r alone: add mismatch
        models.create("rfdn", scale=4, widths={"B1/c1_r": 40})
    with pytest.raises(ValueError, match="expected \\(distilled, rest\\)"):
        models.create("imdn", scale=4, widths={"IMDB1/c1": 50})


def test_unsupported_primitive_is_named():
    class Odd(nn.Module):
        @nn.compact
        def __call__(self, x):
            y = nn.Conv(8, (3, 3))(x)
            return jnp.cumsum(y, axis=-1)[..., :3]

    with pytest.raises(NotImplementedError, match="cumsum"):
        trace(Odd())
