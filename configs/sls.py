"""SLS (Oh et al., CVPR 2022): layer-wise N:M sparsity search to a MACs budget, then fine-tuning.

Commands:
    python -m jaxsr.train --config=configs/sls.py:demo --workdir=workdirs/sls_demo
    python -m jaxsr.train --config=configs/sls.py:model=rfdn,budget=8 --workdir=workdirs/sls_rfdn8
    python -m jaxsr.train --config=configs/sls.py:model=carn_m,budget=4,steps=3000 --workdir=...
    python -m jaxsr.evaluate --weights=workdirs/sls_rfdn8/final_model \
        --data=../shared/data/benchmark
    python -m jaxsr.complexity --weights=workdirs/sls_rfdn8/final_model
    python -m jaxsr.experiment --spec=experiments/sls_rfdn.py  # vs one-shot N:M, SR-STE: RESULTS.md

Arguments (`:key=value,...`): `model` (rfdn | carn_m | imdn: from the published x4
checkpoints in ../shared/weights; edsr_baseline | carn | msrresnet: no published weights, so
a dense `pretrain` stage of `steps` steps comes first), `budget` (4, 8 or 16: the target is
1/budget of the dense MACs of the pruned convs), `target` (any fraction instead of 1/budget,
e.g. the MACs of a uniform N:M baseline), `m` (M, default 32), `steps` (SLS steps:
search + fine-tuning; default 2000), `score_lr` (Adam lr of the scores; default 0.005 here,
see below), `lam` (initial lambda_reg, 1e-11), `alpha` (1.2), `anneal_every` (K, 25 steps),
`rerank` (R, steps; 1 = every step, 0 = never), `nopop` (no priority ordering, ablation),
`noanneal` (lambda fixed at `lam`, ablation), `demo`.

What the budget counts (`jaxsr.methods.sls`): the paper's C_target is a fraction of the
summed MACs of the pruned convs; the first and last convs (never pruned, as in the paper) are
not in it, so the whole-model GMACs that `jaxsr.complexity` prints (1280x720 output) fall
less than 1/budget. Convs with fewer input channels than M (RFDN's ESA convs: 12) count their
real weights only.

Paper recipe (Sec. 4.2 and the official code, CARN x4): start from a pretrained dense model;
300 epochs x 1000 iterations on DIV2K, HR patch 192, batch 16, L1, Adam lr 1e-4 halved at
epoch 200; M = 32, tau = 0.5, k in [0, 1.03], lambda 1e-10, annealing alpha 1.1 (1.2 in the
code), T 0.1 (0.2), K 2 epochs; units re-ranked every epoch; selection on DIV2K val.
Here, for a 2-core CPU: HR patch 96, batch 16, L1, `steps` (default 2000) on
../shared/data/train (T91 + BSD200 + General100), Adam lr 1e-4 halved at 2/3 of the steps,
scores at lr 0.005 (the paper trains 300k steps; at its score lr the search would not end
within a CPU budget), lambda 1e-11 (at 1e-10 the MACs term's gradient on every score of the
published RFDN is 10-1000x the task loss's, measured, and a short search prunes every layer
alike), alpha 1.2, K = 25 steps, T 0.1, R = 100 steps. Expected runtime: the
SLS step time (BENCHMARKS.md, SLS search step) x `steps` + evaluations (~4-7 min for RFDN,
1000 steps). Expected result (measured, RESULTS.md "SLS"): RFDN x4, 1000 steps, budget=8:
budget met at step 86, 4.02 of 23.76 GMACs, Set5 / Set14 / B100 Y-PSNR 29.19 / 26.62 /
26.36 dB; at this scale SLS does not beat uniform one-shot N:M / SR-STE at equal MACs.

`:demo` (no ../shared needed, 97 s here; Y-PSNR 31.96 dB, RESULTS.md demos): a small
MSRResNet x4 (32 features, 4 blocks) is first trained dense for 300 steps on the embedded
sample images (stage `pretrain`, = the dense demo), then SLS with M = 8 to 1/4 of the MACs
of its 11 inner convs for 300 steps (stage `sls`: the search ends within ~100 steps, the
rest fine-tunes), evaluated on the held-out `Demo` image; `report.json` and `layer_n.png`
(per-layer N) in `WORKDIR/sls`.
"""

from jaxsr import methods
from jaxsr.configs_lib import load_sibling, parse_arg

CHECKPOINTS = {"rfdn": "rfdn_x4.pth", "carn_m": "carn_m_x234.pth", "imdn": "imdn_x4.pth"}
SCRATCH = ("edsr_baseline", "carn", "msrresnet")
BUDGETS = (4, 8, 16)


def get_config(arg: str | None = None):
    a = parse_arg(
        arg,
        model="",
        budget=4,
        target=0.0,
        m=0,
        steps=0,
        score_lr=0.005,
        lam=1e-11,
        alpha=1.2,
        anneal_every=25,
        rerank=100,
        nopop=False,
        noanneal=False,
        demo=False,
    )
    if not 0.0 <= a.target <= 1.0:
        raise ValueError(f"target={a.target} must be in (0, 1]")
    if a.budget not in BUDGETS:
        raise ValueError(f"budget={a.budget}; known: {', '.join(map(str, BUDGETS))}")
    if a.steps < 0:
        raise ValueError(f"steps={a.steps} must be > 0")
    steps = a.steps or (300 if a.demo else 2000)
    dense = load_sibling(__file__, "dense.py")
    if a.demo and not a.model:  # from scratch on the embedded images
        c = dense.get_config("demo")
        c.method = "sls"
        c.sls = methods.default_config("sls")
        c.sls.pretrain_steps = c.train.steps  # the dense demo's 300 steps
        m = a.m or 8
        c.train.steps, c.eval.every, c.ckpt.every = steps, 100, 100
    else:
        model = a.model or "rfdn"
        if model not in (*CHECKPOINTS, *SCRATCH):
            raise ValueError(f"model={model!r}; known: {', '.join((*CHECKPOINTS, *SCRATCH))}")
        if model in SCRATCH and a.demo:
            raise ValueError(f"model={model},demo: no published {model}; use ':demo' alone")
        c = dense.get_config("shared")
        c.method = "sls"
        c.sls = methods.default_config("sls")
        load_sibling(__file__, "nm_oneshot.py").shared_run(
            c, c.sls, model, CHECKPOINTS.get(model), steps, a.demo
        )
        m = a.m or 32
    c.sls.m, c.sls.target = m, a.target or 1.0 / a.budget
    c.sls.score_lr, c.sls.lam, c.sls.alpha = a.score_lr, a.lam, a.alpha
    c.sls.anneal_every, c.sls.rerank_every = a.anneal_every, a.rerank
    c.sls.pop, c.sls.anneal = not a.nopop, not a.noanneal
    return c
