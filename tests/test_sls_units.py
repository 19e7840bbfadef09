"""SLS in the official code's units and annealing rule (issue 26, items 1-3).

The references are re-statements, written here, of the official SLS code
(`JungHunOh/SLS_CVPR2022`, super-resolution/src): `SparseConv` (pruning units from the
weight magnitudes, clamp + cumprod + straight-through gates, the spatial size of its current
output), `compute_costs`, the L1 loss on images in [0, 255] plus `lamb_reg * coeff * cost`,
and `Trainer.train`'s annealing (a compression factor recorded per epoch, checked every two).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsr import models
from jaxsr.losses import LOSSES
from jaxsr.methods.sls import SLS, layer_costs
from jaxsr.sparsity.budget import anneal_step
from jaxsr.sparsity.selection import NM_RULES, prunable_paths

# ---------------------------------------------------------------- the official code, restated


def _official_units(weight, m: int):
    """`SparseConv.update_pruning_units`: (M, O, I, kh, kw) 0/1 units, unit i = the (i+1)-th
    largest |w| of every group of M consecutive input channels (the code needs M | I)."""
    import torch

    o, i, kh, kw = weight.shape
    assert i % m == 0
    mat = weight.detach().permute(2, 3, 0, 1).reshape(kh * kw * o, i).reshape(-1, m)
    _, idx = mat.abs().sort()
    mask = torch.zeros(mat.shape, dtype=torch.int64)
    for n in range(1, m + 1):
        mask.scatter_(1, idx[:, -n].unsqueeze(-1), n)
    mask = mask.view(kh, kw, o, i).permute(2, 3, 0, 1)
    return torch.stack([(mask == n + 1).float() for n in range(m)])


def _official_sparse(conv, m: int):
    """Turn an nn.Conv2d into the official `SparseConv` (training mode, before the budget)."""
    import torch
    import torch.nn.functional as F

    conv.M = m
    conv.priority_scores = torch.nn.Parameter(torch.ones(m - 1))
    conv.units = _official_units(conv.weight, m)

    def forward(x):
        prob = torch.cumprod(torch.clamp(conv.priority_scores, 0, 1.03), 0)
        binary = (prob > 0.5).int()
        mn_mask = binary - prob.detach() + prob
        mask = conv.units[0] + torch.sum(conv.units[1:] * mn_mask.view(-1, 1, 1, 1, 1), 0)
        out = F.conv2d(x, conv.weight * mask, conv.bias, conv.stride, conv.padding)
        conv.h, conv.w = out.shape[-2], out.shape[-1]
        return out

    def compute_costs():
        prob = torch.cumprod(torch.clamp(conv.priority_scores, 0, 1.03), 0)
        binary = (prob > 0.5).int() - prob.detach() + prob
        n = 1 + binary.sum()
        op = conv.kernel_size[0] ** 2 * conv.in_channels * conv.out_channels
        return (n / conv.M) * op * conv.h * conv.w

    conv.forward, conv.compute_costs = forward, compute_costs


# ---------------------------------------------------------------- item 1: units


@pytest.mark.parametrize(
    ("lam", "rule"),  # the paper's lambda; one where costs dominate; both unit rules (M | I)
    [(1e-10, "exact"), (1e-5, "exact"), (1e-5, "code")],
)
def test_score_gradients_equal_the_official_code_for_the_same_lambda_and_batch(lam, rule):
    torch = pytest.importorskip("torch")
    from jaxsr.convert import convert_state_dict, torch_key_to_path

    from . import torch_ref

    m, scale, nf, nm = 4, 4, 16, 2  # every selected conv has a multiple of M input channels
    torch.manual_seed(0)
    ref, _ = torch_ref.build("rfdn", scale, nf=nf, nm=nm)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.02 * torch.randn(p.shape))
    overrides = {"num_feat": nf, "num_modules": nm}
    params, _ = convert_state_dict(
        {k: v.numpy() for k, v in ref.state_dict().items()}, "rfdn", scale, "ref", **overrides
    )
    model = models.create("rfdn", scale, **overrides)
    selected = prunable_paths(params, NM_RULES["rfdn"])
    assert "upsampler_0/kernel" in selected and "fea_conv/kernel" not in selected
    convs = {}
    for name, mod in ref.named_modules():
        path = "/".join(torch_key_to_path(f"{name}.weight"))
        if isinstance(mod, torch.nn.Conv2d) and path in selected:
            convs[path] = mod
    assert set(convs) == set(selected)

    rng = np.random.default_rng(1)
    scores = {p: rng.uniform(0.6, 1.02, size=m - 1).astype(np.float32) for p in selected}
    lr = rng.uniform(0, 1, (2, 24, 24, 3)).astype(np.float32)  # the training input: LR 24x24
    hr = rng.uniform(0, 1, (2, 24 * scale, 24 * scale, 3)).astype(np.float32)

    # official: L1 on [0, 255] + lamb_reg * coeff * sum of compute_costs (coeff 1)
    for p, conv in convs.items():
        _official_sparse(conv, m)
        with torch.no_grad():
            conv.priority_scores.copy_(torch.from_numpy(scores[p]))
    x = torch.from_numpy(lr).permute(0, 3, 1, 2) * 255.0
    y = torch.from_numpy(hr).permute(0, 3, 1, 2) * 255.0
    loss = torch.nn.L1Loss()(ref(x), y)
    cost = sum(c.compute_costs() for c in convs.values())
    (loss + lam * cost).backward()
    want = {p: c.priority_scores.grad.numpy() for p, c in convs.items()}

    # jaxsr: the method's hooks as the training step composes them, costs at the LR patch
    shapes = {p: tuple(np.shape(v)) for p, v in _flat(params).items() if p in selected}
    method = SLS(costs=layer_costs(model, shapes, m, (24, 24), rule), m=m, lam=lam, rgb_range=255.0)
    trainable, state = method.init(params, jax.random.PRNGKey(0))
    trainable["scores"] = _nest({p: jnp.asarray(v) for p, v in scores.items()})

    def total(tr):
        mp = method.model_params(tr, state)
        apply = lambda q, a: model.apply({"params": q}, a)  # noqa: E731
        task, _ = method.task_loss(apply, mp, state, lr, hr, LOSSES["l1"])
        reg, _ = method.aux_loss(tr, state, jnp.asarray(0))
        return task + reg, (task, reg)

    (value, (task, reg)), g = jax.value_and_grad(total, has_aux=True)(trainable)
    assert float(task) == pytest.approx(loss.item(), rel=1e-5)
    assert float(reg) == pytest.approx(lam * cost.item(), rel=1e-5)
    got = _flat(g["scores"])
    scale_ = max(float(np.abs(v).max()) for v in want.values())
    for p in selected:
        np.testing.assert_allclose(got[p], want[p], rtol=1e-3, atol=1e-4 * scale_, err_msg=p)


def test_exact_unit_costs_are_real_macs_and_eq5_when_m_divides_the_input_channels():
    from jaxsr.sparsity.budget import unit_costs

    np.testing.assert_array_equal(unit_costs((3, 3, 64, 8), 640.0, 32, "exact"), [20.0] * 32)
    np.testing.assert_array_equal(unit_costs((3, 3, 64, 8), 640.0, 32, "code"), [20.0] * 32)
    # RFDN's 50-channel convs at M = 32: a group of 32 and a padded group of 18; N = 8 keeps
    # 8 + 8 = 16 of 50 weights per position (the real MACs), where C * N / M says 8 / 32
    exact, code = (
        unit_costs((3, 3, 50, 50), 50.0, 32, "exact"),
        unit_costs((3, 3, 50, 50), 50.0, 32, "code"),
    )
    assert exact[:8].sum() == pytest.approx(16.0) and code[:8].sum() == pytest.approx(12.5)
    assert exact.sum() == pytest.approx(50.0) == code.sum()


def test_cost_at_the_training_patch_is_not_the_hd_cost_scaled():
    """RFDN's strided ESA conv and pooling make per-conv costs non-proportional to the input
    area, which is why the costs are traced at the patch rather than rescaled."""
    from jaxsr import complexity

    model = models.create("rfdn", 4)
    patch = complexity.conv_costs(model, (24, 24))
    hd = complexity.conv_costs(model, complexity.hd_lr_shape(4))
    area = 24 * 24 / (320 * 180)
    assert patch["B1/c1_r/kernel"] == pytest.approx(hd["B1/c1_r/kernel"] * area)
    assert patch["B1/esa/conv2/kernel"] != pytest.approx(hd["B1/esa/conv2/kernel"] * area)


# ---------------------------------------------------------------- item 2: annealing


def _official_annealing(ratios: list[float], epoch: int, thr: float, alpha: float) -> list[float]:
    """`Trainer.train` of the official code: `ratios[t]` = C_pruned / C_original seen at
    iteration t+1; per epoch of `epoch` iterations the last one's original/pruned is kept,
    every second epoch the coefficient grows when that factor rose by < thr. Returns the
    coefficient after every iteration."""
    coeff, last2, out = 1.0, [], []
    for t, r in enumerate(ratios, start=1):
        if t % epoch == 0:  # the end of an epoch
            e = t // epoch
            last2.append(1.0 / r)
            if e > 1 and e % 2 == 0:
                if last2[-1] - last2[0] < thr:
                    coeff *= alpha
                last2 = []
        out.append(coeff)
    return out


def _paper_annealing(ratios: list[float], k: int, thr: float, alpha: float) -> list[float]:
    """Eq. 7: every K iterations, lambda *= alpha if the pruned ratio moved by <= T."""
    lam, mark, out = 1.0, 1.0, []
    for t, r in enumerate(ratios, start=1):
        if t % k == 0:
            if abs(r - mark) <= thr:
                lam *= alpha
            mark = r
        out.append(lam)
    return out


def _scripted_ratios() -> list[float]:
    # a search that stalls, moves fast, stalls again: C_pruned / C_original per step
    seq = [1.0] * 7 + [0.9, 0.8, 0.7, 0.6, 0.5] + [0.5] * 6 + [0.45, 0.4, 0.3] + [0.3] * 9
    return [float(r) for r in seq]


@pytest.mark.parametrize("rule", ["code", "paper"])
def test_annealing_rules_follow_their_reference_on_a_scripted_cost_sequence(rule):
    ratios, k, thr, alpha = _scripted_ratios(), 4, 0.2, 1.5
    want = (
        _official_annealing(ratios, k // 2, thr, alpha)
        if rule == "code"
        else _paper_annealing(ratios, k, thr, alpha)
    )
    step = jax.jit(anneal_step, static_argnums=(0, 5, 6, 7))
    lam, mark = jnp.asarray(1.0), jnp.asarray(1.0)
    got = []
    for t, r in enumerate(ratios, start=1):
        lam, mark = step(rule, lam, mark, jnp.asarray(r), jnp.asarray(t), k, thr, alpha)
        got.append(float(lam))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert len(set(want)) > 2  # the sequence both grows lambda and leaves it alone


def test_the_two_rules_differ_on_the_same_sequence():
    """Same K, T, alpha: the code watches the factor's growth over one epoch, the paper the
    ratio's move over K, so they anneal at different checks."""
    ratios, k = _scripted_ratios(), 4
    assert _official_annealing(ratios, k // 2, 0.2, 1.5) != _paper_annealing(ratios, k, 0.2, 1.5)


def test_sls_method_anneals_by_its_rule_and_stops_at_the_budget():
    costs = {"a/kernel": np.ones(4)}
    w = jnp.asarray(np.random.default_rng(0).normal(size=(1, 1, 8, 3)), jnp.float32)
    ns = [4, 4, 4, 4, 4, 4, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 1]  # kept units after each step
    ratios = [n / 4 for n in ns]
    for rule in ("code", "paper"):
        method = SLS(
            costs=costs, m=4, target=0.25, lam=1.0, alpha=1.5, anneal_rule=rule,
            anneal_every=4, anneal_threshold=0.2, rerank_every=0,
        )  # fmt: skip
        trainable, state = method.init({"a": {"kernel": w}}, jax.random.PRNGKey(0))
        ref = (
            _official_annealing(ratios, 2, 0.2, 1.5)
            if rule == "code"
            else _paper_annealing(ratios, 4, 0.2, 1.5)
        )
        update = jax.jit(method.update_state)
        for t, n in enumerate(ns, start=1):
            k = jnp.asarray([1.0] * (n - 1) + [0.2] * (4 - n), jnp.float32)
            state = update({**trainable, "scores": {"a": {"kernel": k}}}, state, jnp.asarray(t))
            if t < len(ns):  # the last step meets the budget: lambda stays as it was
                assert float(state["lam"]) == pytest.approx(ref[t - 1]), (rule, t)
        assert int(state["budget_step"]) == len(ns)
        assert float(state["lam"]) == pytest.approx(ref[-2])


def _flat(tree) -> dict:
    from flax import traverse_util

    return {"/".join(k): v for k, v in traverse_util.flatten_dict(tree).items()}


def _nest(flat: dict) -> dict:
    from flax import traverse_util

    return traverse_util.unflatten_dict({tuple(k.split("/")): v for k, v in flat.items()})
