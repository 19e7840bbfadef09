"""Tiny DUPru/UPru config for tests: 8-feature MSRResNet x2, 3 rounds x 40 steps, p = 30 %."""

from jaxsr import methods
from jaxsr.configs_lib import load_sibling


def get_config(arg: str | None = None):
    method = arg or "dupru"
    c = load_sibling(__file__, "tiny.py").get_config()
    c.method = method
    c.pruning = methods.default_config(method)
    c.pruning.percent, c.pruning.rounds = 30.0, 3
    c.pruning.freeze_eps = 1e-3 if method == "dupru" else 0.0
    c.train.steps, c.train.log_every = 40, 1
    c.ckpt.every = 10
    return c
