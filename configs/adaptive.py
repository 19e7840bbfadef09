"""MSE estimators for SLS adaptive inference (SLS §3.6, eq. 8) over pruned RFDN x4 models.

Commands:
    python -m jaxsr.train --config=configs/adaptive.py:demo --workdir=workdirs/adaptive_demo
    python -m jaxsr.evaluate --weights=workdirs/adaptive_demo/estimator/final_model \
        --data=jaxsr/data/samples --sets=Demo --beta=0,0.5,2
    python -m jaxsr.experiment --spec=experiments/sls_rfdn.py  # the candidates (SLS 1/4..1/16)
    python -m jaxsr.train --config=configs/adaptive.py --workdir=workdirs/adaptive/estimator
    python -m jaxsr.evaluate --weights=workdirs/adaptive/estimator/final_model \
        --data=../shared/data/benchmark --sets=Set14,B100 --beta=0,0.1,0.3,1
    python -m jaxsr.upscale --input=photo.png --out=sr/ --beta=0.3 \
        --weights=workdirs/adaptive/estimator/final_model        # + <name>_x4_choices.png

Arguments (`:key=value,...`): `root` (folder of the candidate runs, default
workdirs/sls_rfdn), `runs` (`+`-separated run names under `root`, each with a
`final_model/`; default sls_1of4+sls_1of8+sls_1of16), `nobicubic` (leave the bicubic
candidate out), `steps` (default 1500), `core`, `context` (LR pixels of a tile's core and of
its context: 32 and 8), `features` (estimator channels, 16), `seed`, `demo`.

Recipe: the paper trains "the MSE estimators for each candidate model using training
datasets" and gives nothing else; here (our design, `jaxsr.methods.mse_estimator`): the
candidates frozen, windows of (core + 2 context) LR pixels from ../shared/data/train with
their HR patches (192 px at x4), batch 16, flips + rotations, L1 between predicted and
measured log MSE over the core, Adam 1e-3 halved at 2/3 of `steps`. Expected runtime and
results: RESULTS.md ("Adaptive inference") and BENCHMARKS.md.

`:demo` (no ../shared needed, about 2 minutes on 2 CPU cores): stage `candidate` trains the
small demo MSRResNet x4 (32 features, 4 blocks) for 300 steps on the embedded images, stage
`estimator` trains estimators for it and bicubic (core 16, context 4) for 200 steps.
"""

from jaxsr import methods
from jaxsr.configs_lib import base_config, demo_data, parse_arg, shared_train_data


def get_config(arg: str | None = None):
    a = parse_arg(
        arg,
        root="workdirs/sls_rfdn",
        runs="sls_1of4+sls_1of8+sls_1of16",
        nobicubic=False,
        steps=0,
        core=0,
        context=-1,
        features=16,
        seed=0,
        demo=False,
    )
    c = base_config()
    c.method = "mse_estimator"
    c.seed = a.seed
    c.adaptive = methods.default_config("mse_estimator")
    c.model.name, c.model.scale = "mse_estimator", 4
    if a.demo:
        demo_data(c)
        c.eval.sets, c.eval.select = (), ""
        c.adaptive.candidates = ("pretrain", "bicubic")
        c.adaptive.pretrain_steps = 300
        c.adaptive.pretrain_model = {
            "name": "msrresnet",
            "overrides": {"num_feat": 32, "num_block": 4},
        }
        c.adaptive.pretrain_hr_patch = 64
        core, context, steps, lr = (
            a.core or 16,
            4 if a.context < 0 else a.context,
            a.steps or 200,
            5e-4,
        )
        c.train.log_every, c.ckpt.every = 25, 100
    else:
        runs = [r for r in a.runs.split("+") if r]
        if not runs:
            raise ValueError(f"runs={a.runs!r}: name at least one run under root={a.root}")
        c.adaptive.candidates = tuple(f"{a.root}/{r}/final_model" for r in runs) + (
            () if a.nobicubic else ("bicubic",)
        )
        shared_train_data(c)
        core, context, steps, lr = (
            a.core or 32,
            8 if a.context < 0 else a.context,
            a.steps or 1500,
            1e-3,
        )
        c.train.log_every, c.ckpt.every = 50, 500
    if steps < 1 or core < 1 or context < 0 or a.features < 1:
        raise ValueError(
            f"steps={steps}, core={core}, context={context}, features={a.features}: out of range"
        )
    c.adaptive.core, c.adaptive.context = core, context
    c.adaptive.blend = min(4, context, core // 2)
    n = len(c.adaptive.candidates)
    c.model.overrides = {"num_candidates": n, "features": a.features}
    c.data.hr_patch, c.data.batch_size = (core + 2 * context) * 4, 16
    c.train.steps, c.train.loss = steps, "l1"
    c.optim.lr = lr
    c.optim.schedule, c.optim.milestones, c.optim.gamma = "multistep", (2 * steps // 3,), 0.5
    return c
