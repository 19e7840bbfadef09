"""ESRB (FMP's baseline, reconstructed): counts against a closed form and FMP's Table 1."""

from __future__ import annotations

import jax.numpy as jnp
import pytest

from jaxsr import complexity, models

TABLE1 = {2: (8_180, 1_877.8), 3: (8_215, 836.8), 4: (8_264, 474.2)}  # K params, GFLOPs


def _closed_form_params(c: int, b: int, s: int, f: int = 16) -> int:
    """head + b x (two 3x3 convs, a 1x1, RLFN's ESA) + body conv + upsampler, all with bias."""
    conv = lambda cin, cout, k: k * k * cin * cout + cout  # noqa: E731
    esa = conv(c, f, 1) + conv(f, f, 3) + conv(f, f, 3) + conv(f, f, 1) + conv(f, c, 1)
    block = 2 * conv(c, c, 3) + conv(c, c, 1) + esa
    return conv(3, c, 3) + b * block + conv(c, c, 3) + conv(c, 3 * s * s, 3)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_esrb_counts_match_fmp_table1(scale):
    model = models.create("esrb", scale=scale)
    n = models.num_params(models.abstract_params(model))
    macs = sum(complexity.conv_costs(model, complexity.hd_lr_shape(scale)).values())
    assert n == _closed_form_params(256, 6, scale)
    print(
        f"ESRB-6-256 x{scale}: {n:,} params, {macs / 1e9:,.2f} G conv MACs; "
        f"Table 1: {TABLE1[scale]}"
    )
    # FLOPs to the 0.1G reported; params to the 1K unit (the table truncates x2 8,180.9K but
    # rounds x4 8,263.9K, so no single rounding rule reproduces all three)
    assert abs(n / 1e3 - TABLE1[scale][0]) < 1 and round(macs / 1e9, 1) == TABLE1[scale][1]


@pytest.mark.parametrize("name", ["esrb", "rfdn"])
def test_an_lr_input_too_small_for_esa_is_one_clear_error(name):
    depth = {"esrb": {"num_block": 1}, "rfdn": {"num_modules": 1}}[name]
    model = models.create(name, 4, num_feat=8, **depth)
    params = models.init_params(model, 0)
    with pytest.raises(ValueError, match=r"input 14x20 is too small .* >= 15x15"):
        model.apply({"params": params}, jnp.zeros((1, 14, 20, 3)))
    assert model.apply({"params": params}, jnp.zeros((1, 15, 15, 3))).shape == (1, 60, 60, 3)
