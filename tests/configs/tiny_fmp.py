"""Tiny FMP config for tests: 8-feature MSRResNet x2 (2 blocks), a search of at most
`search=` steps (strong regularisers, `reg=`, so it converges within it), then `steps=` fine-tuning
steps of the materialised model."""

from jaxsr import methods
from jaxsr.configs_lib import load_sibling, parse_arg


def get_config(arg: str | None = None):
    a = parse_arg(arg, search=40, steps=6, criterion="total", reg=20.0)
    c = load_sibling(__file__, "tiny.py").get_config()
    c.model.overrides = {"num_feat": 8, "num_block": 2}
    c.method = "fmp"
    c.fmp = methods.default_config("fmp")
    c.fmp.search_steps, c.fmp.criterion = a.search, a.criterion
    c.fmp.channel_ratio, c.fmp.weight_ratio = 0.2, 0.05
    c.fmp.reg_channel, c.fmp.reg_weight, c.fmp.min_channels = a.reg, a.reg / 4, 2
    c.optim.lr = 1e-2
    # a checkpoint every 10 steps: each costs more than a tiny step (the resume test kills after 10)
    c.train.steps, c.train.log_every, c.ckpt.every = a.steps, 2, 10
    return c
