"""UPru: iterative magnitude pruning with rewinding, MSRResNet x4 (paper Algorithm 1 without
the freeze).

Command:
    JAXSR_DIV2K=/data/DIV2K python -m jaxsr.train --config=configs/upru.py --workdir=workdirs/upru
    python -m jaxsr.train --config=configs/upru.py:demo --workdir=workdirs/upru_demo
    python -m jaxsr.train --config=configs/upru.py:rfdn --workdir=workdirs/upru_rfdn

Recipe: the dense recipe of `configs/dense.py` (DIV2K, HR 96, batch 16, Adam 1e-4,
eps 1e-9, MSE), `config.train.steps` steps per round, T = `pruning.rounds` rounds. Round 1
trains from W0; each later round prunes p = `pruning.percent` % of the surviving weights of
every residual-block conv (per-layer percentile of the non-zero |w|), rewinds to W0 (.) mask,
resets Adam and trains again. The paper leaves p, T and E open; it reports its best result at
~7.95 % sparsity and that small per-round rates beat large ones, so the defaults are
p = 2.05 %, T = 5 (4 pruning rounds: 1 - 0.9795^4 = 7.96 %), E = 60k steps per round.
Expected runtime: 5 x 60k steps at ~1.2 s/step on a 2-core CPU (~4 days); not run there.
Expected result (paper Tables 2/3, UPru): RGB PSNR Set5 29.58 / Set14 26.37 / B100 25.92 dB;
Y 31.43 / 28.14 / 27.25 dB. Not reproduced here.

`:demo`: the dense demo model on the embedded images, 3 rounds x 100 steps, p = 20 %:
83 s wall on 2 CPU cores, ends at 36 % sparsity of the prunable convs.
`:rfdn`: starts from the imported RFDN x4 (`../shared/weights/rfdn_x4.pth`), prunes every
conv except the first and last, fine-tunes on `../shared/data/train` (HR 96, L1, lr 1e-5),
p = 10 %, T = 4, 2000 steps per round (0.32-0.36 s/step on 2 CPU cores: ~45 min per method);
`experiments/prune_rfdn.py` runs it against dense fine-tuning at the same budget.
"""

from jaxsr import methods
from jaxsr.configs_lib import load_sibling, shared_dir


def build(method: str, arg: str | None):
    """The UPru/DUPru config for `method` ('upru' or 'dupru') and variant `arg`."""
    variant = arg or ""
    dense = load_sibling(__file__, "dense.py")
    c = dense.get_config({"demo": "demo", "rfdn": "shared", "small": "shared"}.get(variant))
    c.method = method
    c.pruning = methods.default_config(method)
    if variant == "demo":
        c.pruning.percent, c.pruning.rounds = 20.0, 3
        c.train.steps, c.eval.every, c.ckpt.every = 100, 100, 50
        if method == "dupru":
            c.pruning.freeze_eps = 1e-3
    elif variant == "rfdn":
        c.model.name, c.model.overrides = "rfdn", {}
        c.init_from = str(shared_dir() / "weights" / "rfdn_x4.pth")
        c.train.loss, c.optim.lr, c.optim.eps = "l1", 1e-5, 1e-8
        c.pruning.percent, c.pruning.rounds = 10.0, 4
        c.train.steps, c.eval.every, c.ckpt.every = 2000, 2000, 500
        c.eval.sets = ("Set5",)  # per round; experiment specs evaluate all sets
    elif variant == "small":
        c.model.overrides = {"num_feat": 32, "num_block": 4}
        c.train.steps, c.train.log_every = 1000, 50
        c.eval.every, c.ckpt.every = 1000, 500
        c.eval.sets = ("Set5",)  # per round; experiments/dupru_small.py evaluates all sets
    elif variant:
        raise ValueError(f"configs/{method}.py: unknown variant {variant!r} (demo, rfdn, small)")
    else:
        c.train.steps = 60_000
    return c


def get_config(arg: str | None = None):
    return build("upru", arg)
