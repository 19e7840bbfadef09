"""Tiny L1 filter pruning config for tests: 8-feature MSRResNet x2 (2 blocks), 6 dense
pretraining steps, pruned to half its MACs, 6 fine-tuning steps. `:rfdn` an 8-feature
one-block RFDN x2 instead, `:upsampler` also prunes the sub-pixel groups, `:li` the Li et
al. scheme (trunks dense; default here `joint`, which can reach half the MACs), `steps=` the
fine-tuning steps."""

from jaxsr import methods
from jaxsr.configs_lib import load_sibling, parse_arg


def get_config(arg: str | None = None):
    a = parse_arg(arg, rfdn=False, upsampler=False, li=False, steps=6)
    c = load_sibling(__file__, "tiny.py").get_config()
    if a.rfdn:
        c.model.name = "rfdn"
        c.model.overrides = {"num_feat": 8, "num_modules": 1, "pixel_range": 1.0}
        c.data.hr_patch, c.data.batch_size = 48, 4  # ESA pools a strided conv 7x7/3
    else:
        c.model.overrides = {"num_feat": 8, "num_block": 2}
    c.method = "l1_filter"
    c.l1 = methods.default_config("l1_filter")
    c.l1.pretrain_steps, c.l1.target, c.l1.upsampler = 6, 0.5, a.upsampler
    c.l1.min_channels = 2
    c.l1.scheme = "li" if a.li else "joint"
    if a.li:  # the trunk stays dense: half of the remaining groups' MACs is out of reach
        c.l1.target = 0.9
    c.train.steps, c.ckpt.every = a.steps, 2
    return c
