"""Tiny N:M config for tests: 8-feature MSRResNet x2, 2:4, 6 dense pretraining steps then
6 N:M steps; `:sr_ste` for SR-STE, `:nopre` for one stage from the seeded init."""

from jaxsr import methods
from jaxsr.configs_lib import load_sibling, parse_arg


def get_config(arg: str | None = None):
    a = parse_arg(arg, sr_ste=False, nopre=False)
    method = "sr_ste" if a.sr_ste else "nm_oneshot"
    c = load_sibling(__file__, "tiny.py").get_config()
    c.model.overrides = {"num_feat": 8, "num_block": 2}
    c.method = method
    c.nm = methods.default_config(method)
    c.nm.n, c.nm.m, c.nm.pretrain_steps = 2, 4, 0 if a.nopre else 6
    c.train.steps, c.ckpt.every = 6, 2
    return c
