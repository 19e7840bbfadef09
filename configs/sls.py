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
search + fine-tuning; default 2000), `score_lr` (Adam lr of the scores, see below), `lam`
(initial lambda_reg in the paper's units, default the paper's 1e-10), `rule` (annealing:
`code`, default, or `paper`), `alpha`, `thr` (T; 0 = the rule's default: code 1.2 / 0.2,
paper 1.1 / 0.1), `anneal_every` (K) and `rerank` (R) in steps (0 = the paper's periods
scaled to `steps`, below; `rerank=-1`: never), `nopop` (no priority ordering, ablation),
`noanneal` (lambda fixed at `lam`, ablation), `demo`.

Units (`jaxsr.methods.sls`): as the official code, the task loss is the L1 on [0, 255]
images and each pruned conv's cost is its MACs at the training patch (one image); with
these, `lam` is the paper's lambda_reg. What the budget counts: the paper's C_target is a
fraction of the summed costs of the pruned convs (every conv but the first; RFDN's last,
upsampling conv is searched, as the paper's Fig. 6); the whole-model GMACs that
`jaxsr.complexity` prints (1280x720 output) fall by less than 1/budget.

Paper recipe (Sec. 4.2 and the official code, CARN x4): start from a pretrained dense model;
300 epochs x 1000 iterations on DIV2K, HR patch 192, batch 16, L1, Adam lr 1e-4 halved at
epoch 200 (the scores are ordinary parameters: same Adam and lr); M = 32, tau = 0.5,
k in [0, 1.03], lambda 1e-10; annealing every K = 2 epochs (2000 iterations) with the code's
rule (T 0.2 on the compression factor, alpha 1.2; the paper's eq. 7 says T 0.1 on the pruned
ratio, alpha 1.1: `rule=paper`); units re-ranked every epoch (1000 iterations; the paper
says 10 epochs); selection on DIV2K val.

Time-compressed protocol for a 2-core CPU (the shared runs): `steps` instead of 300k, every
step-based period scaled by steps / 300k (K = 2000 * steps / 300k, at least 2; R = 1000 *
steps / 300k, at least 1; the lr halved at 2/3 of the steps), HR patch 96 (batch 16) on
../shared/data/train (T91 + BSD200 + General100), with the costs taken at the paper's HR
patch 192 (`sls.cost_at="192"`: the L1 is a per-pixel mean, the cost grows with the patch
area, so this keeps the paper's balance of the two terms at lambda 1e-10). Scores: Adam at
`score_lr`, default 1e-3, 10x the paper's 1e-4, chosen by measurement (RESULTS.md "SLS",
RFDN x4, 1000 steps, 1/8, measured with `sls.unit_cost="code"`): at 1e-4 the budget was met
at step 742 only after annealing had raised lambda from 1e-10 to 2e-2, the regulariser ~1e5
x the task loss, and every layer ended at N = 3-6 (an annealing-driven uniform cut, not a
search; final training L1 12.4 on [0, 255]); at 1e-3 it was met at step 303 (30 % of the
run, lambda 1.2e-7, regulariser ~1x the task loss) with N from 2 to 17 per layer (the
upsampling conv kept at 16, as the paper's Fig. 6; final L1 9.1). Adam moves a score by at
most ~lr per step, so 1e-4 x 1000 steps bounds a score's total move at ~0.1. Expected
runtime: the SLS step time (BENCHMARKS.md, SLS search step) x `steps` + evaluations (~6-8
min for RFDN, 1000 steps). Expected result: RESULTS.md "SLS".

`:demo` (no ../shared needed): a small MSRResNet x4 (32 features, 4 blocks) is first
trained dense for 300 steps on the embedded sample images (stage `pretrain`, = the dense
demo), then SLS with M = 8 to 1/4 of the MACs of its 11 inner convs for 300 steps (stage
`sls`), evaluated on the held-out `Demo` image; `report.json` (with the step the budget was
met at) and `layer_n.png` (per-layer N) in `WORKDIR/sls`.
"""

from jaxsr import methods
from jaxsr.configs_lib import load_sibling, parse_arg

CHECKPOINTS = {"rfdn": "rfdn_x4.pth", "carn_m": "carn_m_x234.pth", "imdn": "imdn_x4.pth"}
SCRATCH = ("edsr_baseline", "carn", "msrresnet")
BUDGETS = (4, 8, 16)


PAPER_STEPS = 300_000  # 300 epochs x 1000 iterations
PAPER_K, PAPER_R = 2000, 1000  # annealing every 2 epochs, re-ranking every epoch (code)
RULE_DEFAULTS = {"code": (1.2, 0.2), "paper": (1.1, 0.1)}  # (alpha, T)


def scaled(period: int, steps: int, least: int) -> int:
    """A period of the paper's 300k-step run scaled to a run of `steps` steps."""
    return max(least, round(period * steps / PAPER_STEPS))


def get_config(arg: str | None = None):
    a = parse_arg(
        arg,
        model="",
        budget=4,
        target=0.0,
        m=0,
        steps=0,
        score_lr=1e-3,
        lam=1e-10,
        rule="code",
        alpha=0.0,
        thr=0.0,
        anneal_every=0,
        rerank=0,
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
    if a.rule not in RULE_DEFAULTS:
        raise ValueError(f"rule={a.rule!r}; known: {', '.join(RULE_DEFAULTS)}")
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
        c.sls.cost_at = "192"  # the paper's HR patch (see the docstring)
        m = a.m or 32
    alpha, thr = RULE_DEFAULTS[a.rule]
    c.sls.m, c.sls.target = m, a.target or 1.0 / a.budget
    c.sls.score_lr, c.sls.lam = a.score_lr, a.lam
    c.sls.anneal_rule, c.sls.alpha, c.sls.anneal_threshold = a.rule, a.alpha or alpha, a.thr or thr
    c.sls.anneal_every = a.anneal_every or scaled(PAPER_K, steps, 2)
    c.sls.rerank_every = 0 if a.rerank < 0 else (a.rerank or scaled(PAPER_R, steps, 1))
    c.sls.pop, c.sls.anneal = not a.nopop, not a.noanneal
    return c
