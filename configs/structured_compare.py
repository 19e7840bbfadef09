"""FMP vs L1 filter pruning vs a dense model at matched FLOPs, from scratch, on a CPU budget.

Commands (one run each; `experiments/structured.py` runs the grid and the evaluations):
    python -m jaxsr.train --config=configs/structured_compare.py:method=fmp,seed=0 --workdir=...
    python -m jaxsr.train --config=configs/structured_compare.py:method=l1,seed=0 --workdir=...
    python -m jaxsr.train --config=configs/structured_compare.py:method=dense,seed=0 --workdir=...

Arguments: `method` (fmp | l1 | dense), `feat`, `blocks` (the ESRB to prune; default ESRB-4-48
x4), `target` (kept fraction of its MACs at a 1280x720 output; default 0.5), `steps` (the
total budget of every method), `first` (steps of the first stage: FMP's search, L1's dense
pretraining), `seed`, `lr`, `dense_feat` (the dense baseline's width; 0 = the ESRB width whose
MACs are closest to `target` x the original's).

Equal budgets by construction: every method trains `steps` steps in all (FMP: at most `first`
search steps, it stops at convergence, then `steps - first` fine-tuning steps of the
materialised model, so it may use fewer; L1: `first` dense steps, pruning to `target`, `steps -
first` fine-tuning steps; dense: `steps` steps of the smaller ESRB), from the same seed, with
the same recipe: `../shared/data/train`, HR patch 96, batch 16, L1 loss, Adam (eps 1e-8) at a
constant `lr` (5e-4: the budget is far too short for 1e-4), evaluated on Set5/Set14/B100 at
the end of every stage. FMP's "total" criterion asks gamma_C + gamma_W >= 1 - `target` (FLOPs;
weight-pruned FLOPs count as removed, as in the paper's Table 3); its L1 strengths are scaled
to the search length (see `get_config`). The papers' recipes (FMP: ESRB-6-256 on DIV2K, no
pretraining, ~60 search + 300 fine-tuning epochs; SLS's L1 baseline: 300k fine-tuning steps
of a published model) are far beyond this machine; the comparison here is of methods at a
few minutes of CPU training.
Expected runtime: ~4-8 min per run on 2 CPU cores; results: RESULTS.md (structured pruning).
`:demo` runs the same with ESRB-2-32 on the embedded images, 300 steps (no ../shared).
"""

from jaxsr import methods
from jaxsr.configs_lib import load_sibling, parse_arg

METHODS = ("fmp", "l1", "dense")


def matched_width(blocks: int, feat: int, target: float) -> int:
    """The ESRB width with MACs (x4, 1280x720 output) closest to `target` x ESRB-blocks-feat."""
    from jaxsr import complexity, models

    shape = complexity.hd_lr_shape(4)

    def macs(width: int) -> float:
        return sum(
            complexity.conv_costs(
                models.create("esrb", 4, num_feat=width, num_block=blocks), shape
            ).values()
        )

    goal = target * macs(feat)
    return min(range(8, feat + 1), key=lambda w: abs(macs(w) - goal))


def get_config(arg: str | None = None):
    a = parse_arg(
        arg,
        method="fmp",
        feat=48,
        blocks=4,
        target=0.5,
        steps=1500,
        first=600,
        seed=0,
        lr=5e-4,
        dense_feat=0,
        demo=False,
    )
    if a.method not in METHODS:
        raise ValueError(f"method={a.method!r}; known: {', '.join(METHODS)}")
    if a.demo:
        a.feat, a.blocks, a.steps, a.first = 32, 2, 300, 150
    if not 0 < a.first < a.steps:
        raise ValueError(f"first={a.first} must be in (0, steps={a.steps})")
    if not 0.0 < a.target < 1.0:
        raise ValueError(f"target={a.target} must be in (0, 1)")
    if a.method == "fmp" and a.target >= 0.9:
        raise ValueError(f"target={a.target}: FMP prunes 0.1 by weights, so target must be < 0.9")
    if a.feat < 8 or a.blocks < 1:
        raise ValueError(f"feat={a.feat}, blocks={a.blocks}: need feat >= 8 and blocks >= 1")
    dense = load_sibling(__file__, "dense.py")
    c = dense.get_config("demo" if a.demo else "shared")
    c.seed = a.seed
    c.train.loss, c.optim.eps, c.optim.lr, c.optim.schedule = "l1", 1e-8, a.lr, "constant"
    c.train.log_every, c.ckpt.every = (10, 50) if a.demo else (25, 250)
    c.eval.every = a.steps  # stage ends are always evaluated
    c.model.name, c.model.scale = "esrb", 4
    c.model.overrides = {"num_feat": a.feat, "num_block": a.blocks}
    if a.method == "dense":
        width = a.dense_feat or matched_width(a.blocks, a.feat, a.target)
        c.model.overrides = {"num_feat": width, "num_block": a.blocks}
        c.train.steps = a.steps
        return c
    c.train.steps = a.steps - a.first
    if a.method == "l1":
        c.method = "l1_filter"
        c.l1 = methods.default_config("l1_filter")
        c.l1.target, c.l1.pretrain_steps = a.target, a.first
        c.l1.scheme = "joint"  # the residual trunk pruned too, as FMP prunes it
        return c
    f = load_sibling(__file__, "fmp.py").get_config("demo" if a.demo else None).fmp
    c.method, c.fmp = "fmp", f
    c.fmp.criterion, c.fmp.metric = "total", "flops"
    c.fmp.weight_ratio = 0.1
    c.fmp.channel_ratio = 1.0 - a.target - c.fmp.weight_ratio
    c.fmp.search_steps = a.first
    # strengths scaled to the search length: the soft-threshold moves a channel vector entry
    # (~N(0, 1)) by reg * lr per step and an indicator (starting at 1) by wreg * ind_lr * lr,
    # so over `first` steps the vectors shrink by 0.4 and the indicators reach 0 at its end
    # unless the loss holds them up: the criterion is met late in the search, not in its first
    # third (which would leave FMP fewer steps than the others)
    c.fmp.reg_channel = 0.4 / (a.lr * a.first)
    c.fmp.reg_weight = 1.0 / (a.lr * a.first * c.fmp.ind_lr)
    return c
