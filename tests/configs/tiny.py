"""A tiny, fast training config for tests (embedded samples, 8-feature MSRResNet x2)."""

from jaxsr.configs_lib import base_config, demo_data


def get_config(arg: str | None = None):
    c = base_config()
    c.model.name, c.model.scale = "msrresnet", 2
    c.model.overrides = {"num_feat": 8, "num_block": 1}
    demo_data(c)
    c.data.hr_patch, c.data.batch_size, c.data.num_threads = 16, 8, 1
    c.optim.lr = 1e-3
    c.train.steps, c.train.log_every, c.train.loss = 60, 1, "l1"
    c.eval.every, c.ckpt.every, c.ckpt.keep = 1000, 10, 2
    c.tensorboard = False
    return c
