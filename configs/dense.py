"""Dense MSRResNet x4, the DUPru paper's baseline recipe.

Command:
    python -m jaxsr.train --config=configs/dense.py --workdir=workdirs/dense
    python -m jaxsr.train --config=configs/dense.py:demo --workdir=workdirs/demo   # no ../shared

Recipe (DUPru paper, Informatica 2024): MSRResNet x4 (16 blocks x 64), HR patches 96x96,
batch 16, Adam lr 1e-4, betas (0.9, 0.999), eps 1e-9, MSE loss, flips + rotations,
constant lr, trained on T91 + BSD200 (+ General100, 50 of 100 available here) from
`../shared/data/train`, evaluated on Set5/Set14 (Y channel) every 5000 steps.
Expected runtime: ~1.3 s/step on a 2-core CPU (300k steps is not feasible there); on one
H100 roughly 30 ms/step (estimate, not measured here). Expected result after 300k steps:
about Set5 30.2 dB / Set14 26.8 dB Y-PSNR, the dense numbers of the paper's Table 2 range
(not reproduced here).

`:demo` trains a small MSRResNet (32 features, 4 blocks) for 300 steps on the embedded sample
images (astronaut, coffee, rocket) and evaluates on the held-out `chelsea`; ~2-3 minutes on
2 CPU cores; expected Demo Y-PSNR above the bicubic baseline (measured: see README).
"""

from jaxsr.configs_lib import base_config, demo_data, shared_dir


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
    if arg:
        raise ValueError(f"configs/dense.py: unknown variant {arg!r} (use ':demo')")
    train_root = shared_dir() / "data" / "train"
    c.data.train = {
        "builder": "sr_folder",
        "split": "train",
        "splits": {
            "train": [(str(train_root / s / "HR"), None) for s in ("T91", "BSD200", "General100")]
        },
    }
    c.eval.root = str(shared_dir() / "data" / "benchmark")
    c.eval.sets = ("Set5", "Set14")
    c.eval.select = "Set5/psnr_y"
    c.eval.every = 5000
    c.train.steps, c.train.log_every = 300_000, 100
    c.ckpt.every, c.ckpt.keep = 5000, 3
    return c
