"""Dense MSRResNet x4, the DUPru paper's baseline recipe.

Command:
    JAXSR_DIV2K=/data/DIV2K python -m jaxsr.train --config=configs/dense.py --workdir=workdirs/dense
    python -m jaxsr.train --config=configs/dense.py:shared --workdir=workdirs/dense_shared
    python -m jaxsr.train --config=configs/dense.py:demo --workdir=workdirs/demo   # no ../shared

Recipe (DUPru paper, Informatica 2024, Sec. 4.1): MSRResNet x4 (16 blocks x 64), trained on
the 800 DIV2K training images with rotation/flip augmentation, random 96x96 HR patches,
batch 16, MSRA init, Adam lr 1e-4, betas (0.9, 0.999), eps 1e-9, MSE loss, constant lr
(the paper gives no schedule or iteration count; 300k steps here). Evaluated on Set5, Set14,
B100 every 5000 steps. DIV2K is read by the `div2k` TFDS builder from an extracted copy at
`$JAXSR_DIV2K` (`DIV2K_train_HR/`, `DIV2K_train_LR_bicubic/X4/`, ...).
`:shared` trains on the images available in `../shared/data/train` instead (T91 + BSD200 +
50 of General100), for machines without DIV2K.

Expected runtime: 1.1-1.25 s/step measured on a 2-core CPU (BENCHMARKS.md), i.e. ~4 days for
300k steps there; GPU step time not measured yet (no GPU was available).
Expected result (paper Table 2/3, dense MSRResNet x4): RGB PSNR Set5 30.13 / Set14 26.78 /
B100 26.21 dB; Y PSNR 32.02 / 28.57 / 27.54 dB. Not reproduced here.

`:demo` trains a small MSRResNet (32 features, 4 blocks) for 300 steps on the embedded sample
images (astronaut, coffee, rocket) and evaluates on the held-out `chelsea`: 72 s wall on 2 CPU
cores; Demo Y-PSNR ~31.85 dB vs 31.47 dB for bicubic (measured, README).
"""

import os

from jaxsr.configs_lib import base_config, demo_data, shared_dir, shared_train_data


def get_config(arg: str | None = None):
    c = base_config()
    c.model.name, c.model.scale = "msrresnet", 4
    c.data.hr_patch, c.data.batch_size = 96, 16
    c.optim.lr, c.optim.b1, c.optim.b2, c.optim.eps = 1e-4, 0.9, 0.999, 1e-9
    c.train.loss = "mse"
    if arg == "demo":
        c.model.overrides = {"num_feat": 32, "num_block": 4}
        demo_data(c)
        c.data.hr_patch, c.data.batch_size = 64, 16
        c.optim.lr = 5e-4
        c.train.steps, c.train.log_every = 300, 25
        c.eval.every, c.ckpt.every = 100, 100
        return c
    if arg == "shared":
        shared_train_data(c)
    elif arg:
        raise ValueError(f"configs/dense.py: unknown variant {arg!r} (use ':demo' or ':shared')")
    else:
        c.data.train = {
            "builder": "div2k",
            "split": "train",
            "root": os.environ.get("JAXSR_DIV2K", "DIV2K"),
        }
    c.eval.root = str(shared_dir() / "data" / "benchmark")
    c.eval.sets = ("Set5", "Set14", "B100")
    c.eval.select = "Set5/psnr_y"
    c.eval.every = 5000
    c.train.steps, c.train.log_every = 300_000, 100
    c.ckpt.every, c.ckpt.keep = 5000, 3
    return c
