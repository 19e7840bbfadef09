"""Layer-level checks: the CPU conv (grouped convs split per group), and whole-model gradients
vs PyTorch."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxsr.models.layers import _conv, conv_nhwc, fan_in_init, pixel_shuffle
from jaxsr.sparsity import hypernet


@settings(max_examples=15, deadline=None)
@given(
    k=st.sampled_from([1, 3]),
    stride=st.sampled_from([1, 2]),
    pad=st.sampled_from([0, 1]),
    groups=st.sampled_from([1, 2, 4]),
    hw=st.integers(5, 11),
    seed=st.integers(0, 1000),
)
def test_conv_gradients_match_xla_autodiff(k, stride, pad, groups, hw, seed):
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=(2, hw, hw + 1, 8)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(k, k, 8 // groups, 8)), jnp.float32)

    def loss(conv):
        return lambda x, w: jnp.sum(jnp.sin(conv(x, w)))

    ours = jax.grad(loss(lambda x, w: conv_nhwc(x, w, stride, pad, groups)), argnums=(0, 1))(x, w)
    ref = jax.grad(loss(lambda x, w: _conv(x, w, stride, pad, groups)), argnums=(0, 1))(x, w)
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_pixel_shuffle_matches_torch_order():
    torch = pytest.importorskip("torch")
    x = np.arange(2 * 3 * 4 * 12, dtype=np.float32).reshape(2, 3, 4, 12)  # NHWC, C = 3 * 2 * 2
    ref = torch.nn.PixelShuffle(2)(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    np.testing.assert_array_equal(np.asarray(pixel_shuffle(jnp.asarray(x), 2)), ref.numpy())


@pytest.mark.parametrize(
    ("name", "kw"), [("msrresnet", {"nf": 16, "nb": 2}), ("rfdn", {"nf": 16}), ("carn_m", {})]
)
def test_model_gradients_match_pytorch(name, kw):
    torch = pytest.importorskip("torch")
    from jaxsr import models
    from jaxsr.convert import convert_state_dict, torch_key_to_path

    from . import torch_ref

    torch.manual_seed(0)
    ref, rng = torch_ref.build(name, 2, **kw)
    over = {"msrresnet": {"num_feat": 16, "num_block": 2}, "rfdn": {"num_feat": 16}}.get(name, {})
    params, _ = convert_state_dict(
        {k: v.numpy() for k, v in ref.state_dict().items()}, name, 2, **over
    )
    model = models.create(name, 2, **over)
    r = np.random.default_rng(1)
    x = r.uniform(0, 1, (2, 20, 18, 3)).astype(np.float32)
    y = r.uniform(0, 1, (2, 40, 36, 3)).astype(np.float32)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2) * rng
    yt = torch.from_numpy(y).permute(0, 3, 1, 2)
    (ref(xt) / rng - yt).abs().mean().backward()
    g = jax.grad(lambda p: jnp.mean(jnp.abs(model.apply({"params": p}, x) - y)))(params)
    checked = 0
    for key, t in ref.named_parameters():
        if not t.requires_grad:
            continue
        node = g
        path = torch_key_to_path(key)
        for p in path:
            node = node[p]
        want = t.grad.numpy()
        want = want.transpose(2, 3, 1, 0) if want.ndim == 4 else want
        scale = max(float(np.abs(want).max()), 1e-6)
        np.testing.assert_allclose(np.asarray(node), want, atol=2e-4 * scale, rtol=0, err_msg=key)
        checked += 1
    assert checked == len(jax.tree.leaves(params))


def test_flat_drawn_inits_are_the_libraries_values_bit_for_bit():
    """`fan_in_init` draws flat and reshapes (XLA:CPU compiles rank-4 threefry ~50x slower):
    the values must be flax's `variance_scaling` and `jax.random.uniform`'s exactly (this
    fails if JAX stops numbering partitionable threefry's elements in row-major order)."""
    import flax.linen as nn

    key, shape = jax.random.key(11), (3, 3, 2, 4)
    for scale, dist in ((1.0 / 3.0, "uniform"), (0.02, "normal")):
        want = nn.initializers.variance_scaling(scale, "fan_in", dist)(key, shape, jnp.float32)
        got = fan_in_init(scale, dist)(key, shape, jnp.float32)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=dist)
    got = hypernet.init(key, 2, 3, 3, emb=4)
    k1, k2 = jax.random.split(key)
    b1, b2 = jnp.sqrt(3.0), jnp.sqrt(3.0 / (4 * 2 * 9))
    np.testing.assert_array_equal(
        got["w1"], jax.random.uniform(k1, (2, 3, 4), minval=-b1, maxval=b1)
    )
    np.testing.assert_array_equal(
        got["w2"], jax.random.uniform(k2, (2, 3, 4, 9), minval=-b2, maxval=b2)
    )
    with pytest.raises(ValueError, match="distribution='truncated'"):
        fan_in_init(1.0, "truncated")
