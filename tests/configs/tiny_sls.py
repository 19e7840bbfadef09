"""Tiny SLS config for tests: 8-feature MSRResNet x2 (2 blocks), M=4, target 1/2 of the
selected convs' MACs, fast scores (lr 0.05) so the budget is met within a few steps,
re-ranking every 3 steps, annealing every 2 (the code's rule), costs in jaxsr's earlier
units. `:nopop`, `:noanneal`, `:never` (no re-ranking),
`:pre` (a 4-step dense pretraining stage first), `steps=`, `lr=` (score lr)."""

from jaxsr import methods
from jaxsr.configs_lib import load_sibling, parse_arg


def get_config(arg: str | None = None):
    a = parse_arg(arg, nopop=False, noanneal=False, never=False, pre=False, steps=12, lr=0.05)
    c = load_sibling(__file__, "tiny.py").get_config()
    c.model.overrides = {"num_feat": 8, "num_block": 2}
    c.method = "sls"
    c.sls = methods.default_config("sls")
    c.sls.m, c.sls.target, c.sls.score_lr = 4, 0.5, a.lr
    c.sls.lam, c.sls.anneal_every, c.sls.alpha, c.sls.anneal_threshold = 1e-9, 2, 2.0, 0.01
    c.sls.rerank_every = 0 if a.never else 3
    # jaxsr's earlier units (the search is fast at this lambda); the paper's units and both
    # annealing rules are tested against the official code in test_sls_units.py
    c.sls.rgb_range, c.sls.cost_at, c.sls.unit_cost = 1.0, "hd", "exact"
    c.sls.pop, c.sls.anneal = not a.nopop, not a.noanneal
    c.sls.pretrain_steps = 4 if a.pre else 0
    c.train.steps, c.ckpt.every = a.steps, 3
    return c
