"""One-shot N:M (SLS baseline): magnitude N:M masks on a trained model, then fine-tuning.

Commands:
    python -m jaxsr.train --config=configs/nm_oneshot.py:demo --workdir=workdirs/nm_demo
    python -m jaxsr.train --config=configs/nm_oneshot.py:model=rfdn --workdir=workdirs/nm_rfdn
    python -m jaxsr.train --config=configs/nm_oneshot.py:model=carn_m,n=4,m=16 --workdir=...
    python -m jaxsr.evaluate --weights=workdirs/nm_rfdn/final_model \
        --data=../shared/data/benchmark
    python -m jaxsr.complexity --weights=workdirs/nm_rfdn/final_model
    python -m jaxsr.experiment --spec=experiments/nm_rfdn.py   # one-shot vs SR-STE, RESULTS.md

Arguments (`:key=value,...`): `model` (rfdn | carn_m | msrresnet), `n`, `m` (N:M along the
input channels of the convs `jaxsr.sparsity.selection.NM_RULES` selects, the SLS convention:
every conv but the first and a last RGB conv; RFDN's upsampling conv is pruned), `steps`
(fine-tuning steps; default 2000, 200 with `demo`), `demo`. A layer with fewer input
channels per conv group than M (CARN-M's grouped convs have 16, RFDN's ESA convs 12) is
zero-padded as in the SLS code and so keeps N of its I < M weights per group;
`jaxsr.complexity` shows every layer's real pattern.

Recipe (SLS paper, Sec. 4, baselines): start from the published x4 checkpoint
(`../shared/weights`), prune every selected conv to N:M by magnitude once, fine-tune with
the masks kept exact (`keep_masked` last in the chain). SLS fine-tunes 300k iterations with
HR patch 192, batch 16, Adam 1e-4 halved at 2/3, L1, on DIV2K; here, for a 2-core CPU:
HR patch 96, batch 16, `steps` on `../shared/data/train` (T91 + BSD200 + General100),
Adam 1e-4 halved at 2/3, L1. `model=msrresnet` (no published weights) first trains a
dense MSRResNet x4 for `steps` steps (stage `pretrain`). Expected runtime: the dense step
time (BENCHMARKS.md) x `steps`, plus evaluations. Expected result (measured, RESULTS.md):
RFDN x4 2:4 after 1500 steps, Set5 / Set14 / B100 Y-PSNR 31.35 / 27.98 / 27.22 dB (dense
published model: 32.16 / 28.65 / 27.61; no fine-tuning: 28.70 on Set5). The SLS paper
reports no one-shot RFDN number.

`:demo` (no ../shared needed): a small MSRResNet x4 (32 features, 4 blocks) is first trained
dense for 300 steps on the embedded sample images (stage `pretrain`, = the dense demo), then
pruned to 2:4 and fine-tuned for 200 steps (stage `finetune`), evaluated on the held-out
`Demo` image (wall time and Y-PSNR: RESULTS.md, demos). `model=rfdn,demo` /
`model=carn_m,demo`: 200 fine-tuning steps of the published checkpoint, Set5 only.
"""

from jaxsr import methods
from jaxsr.configs_lib import load_sibling, parse_arg, shared_dir

CHECKPOINTS = {"rfdn": "rfdn_x4.pth", "carn_m": "carn_m_x234.pth"}


def shared_run(c, section, model: str, checkpoint: str | None, steps: int, demo: bool) -> None:
    """Model, start, schedule and evaluation of an x4 run on ../shared, the same for every
    N:M method (so equal budgets are equal by construction): from the published checkpoint
    `checkpoint` (a file in ../shared/weights), or after a dense `pretrain` stage of `steps`
    steps (`section.pretrain_steps`) when there is none; Adam 1e-4 halved at 2/3, L1."""
    c.model.name, c.model.scale, c.model.overrides = model, 4, {}
    if checkpoint:
        c.init_from = str(shared_dir() / "weights" / checkpoint)
    else:  # no published weights: dense pretraining stage first
        section.pretrain_steps = steps
    c.train.loss, c.optim.eps = "l1", 1e-8
    c.optim.lr = 1e-4
    c.optim.schedule, c.optim.milestones, c.optim.gamma = "multistep", (2 * steps // 3,), 0.5
    c.train.steps, c.train.log_every = steps, 50
    c.eval.sets = ("Set5",) if demo else ("Set5", "Set14", "B100")
    c.eval.every = steps if demo else 1000
    c.ckpt.every = 100 if demo else 500


def build(method: str, arg: str | None):
    """The config of N:M method `method` ('nm_oneshot' or 'sr_ste') for arguments `arg`."""
    a = parse_arg(arg, model="", n=2, m=4, steps=0, demo=False, scratch=False)
    if a.steps < 0:
        raise ValueError(f"steps={a.steps} must be > 0")
    if a.scratch and method != "sr_ste":
        raise ValueError(f"scratch: only SR-STE trains from scratch (got method {method!r})")
    if a.scratch and a.demo:
        raise ValueError("scratch,demo: ':demo' already trains from scratch")
    steps = a.steps or (200 if a.demo else 2000)
    dense = load_sibling(__file__, "dense.py")
    if a.demo and not a.model:  # from scratch on the embedded images
        c = dense.get_config("demo")
        c.method = method
        c.nm = methods.default_config(method)
        c.nm.n, c.nm.m = a.n, a.m
        c.nm.pretrain_steps = c.train.steps  # the dense demo's 300 steps
        c.train.steps, c.eval.every, c.ckpt.every = steps, 100, 100
        return c
    model = a.model or "rfdn"
    if model not in (*CHECKPOINTS, "msrresnet"):
        raise ValueError(f"model={model!r}; known: rfdn, carn_m, msrresnet")
    if model == "msrresnet" and a.demo:
        raise ValueError("model=msrresnet,demo: no published MSRResNet; use ':demo' alone")
    c = dense.get_config("shared")
    c.method = method
    c.nm = methods.default_config(method)
    c.nm.n, c.nm.m = a.n, a.m
    if a.scratch:  # the SLS protocol's SR-STE: the others' pretraining + pruning budget
        shared_run(c, c.nm, model, None, 2 * steps, a.demo)
        c.nm.pretrain_steps = 0  # SR-STE from the seeded init, no dense stage
        return c
    shared_run(c, c.nm, model, CHECKPOINTS.get(model), steps, a.demo)
    return c


def get_config(arg: str | None = None):
    return build("nm_oneshot", arg)
