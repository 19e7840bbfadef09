"""Every model vs an independent PyTorch re-statement: random weights -> same output (1e-4)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import jax  # noqa: E402

from jaxsr import models  # noqa: E402
from jaxsr.convert import convert_state_dict  # noqa: E402

from . import torch_ref  # noqa: E402

CASES = [
    ("msrresnet", 2, {}),
    ("msrresnet", 3, {}),
    ("msrresnet", 4, {}),
    ("edsr_baseline", 2, {}),
    ("edsr_baseline", 3, {}),
    ("edsr_baseline", 4, {}),
    ("rfdn", 2, {}),
    ("rfdn", 3, {}),
    ("rfdn", 4, {}),
    ("imdn", 2, {}),
    ("imdn", 3, {}),
    ("imdn", 4, {}),
    ("carn", 2, {}),
    ("carn", 3, {}),
    ("carn", 4, {}),
    ("carn_m", 2, {}),
    ("carn_m", 3, {}),
    ("carn_m", 4, {}),
    ("carn_m", 3, {"multi_scale": True}),
]


def _randomise(model: torch.nn.Module, seed: int) -> None:
    """Perturb every trainable tensor so biases are non-zero and nothing is symmetric."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.02 * torch.randn(p.shape, generator=g))


@pytest.mark.parametrize(("name", "scale", "kw"), CASES, ids=lambda v: str(v))
def test_parity_with_pytorch(name, scale, kw):
    torch.manual_seed(0)
    ref, rng = torch_ref.build(name, scale, **kw)
    _randomise(ref, 1)
    params, _ = convert_state_dict(
        {k: v.numpy() for k, v in ref.state_dict().items()}, name, scale, source="torch_ref"
    )
    model = models.create(name, scale)
    # 37x29 LR: odd sizes exercise padding, ESA's strided conv/pooling and the resize.
    x = np.random.default_rng(0).uniform(0, 1, (2, 37, 29, 3)).astype(np.float32)
    want = torch_ref.run(ref, rng, x)
    got = np.asarray(jax.jit(lambda p, x: model.apply({"params": p}, x))(params, x))
    assert got.shape == want.shape == (2, 37 * scale, 29 * scale, 3)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


def test_params_match_torch_count():
    for name, scale, _ in CASES[:-1]:
        ref, _ = torch_ref.build(name, scale)
        n_torch = sum(p.numel() for p in ref.parameters() if p.requires_grad)
        n_jax = models.num_params(models.abstract_params(models.create(name, scale)))
        assert n_jax == n_torch, (name, scale)
