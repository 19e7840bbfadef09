"""FMP (flexible meta pruning): hypernetwork search of channels + weights, then fine-tuning.

Commands:
    python -m jaxsr.train --config=configs/fmp.py:demo --workdir=workdirs/fmp_demo  # no ../shared
    python -m jaxsr.train --config=configs/fmp.py:model=esrb,feat=64 --workdir=workdirs/fmp_esrb64
    python -m jaxsr.train --config=configs/fmp.py:model=edsr_8_128 --workdir=workdirs/fmp_edsr
    python -m jaxsr.evaluate --weights=workdirs/fmp_esrb64/finetune/final_model \
        --data=../shared/data/benchmark
    python -m jaxsr.complexity --weights=workdirs/fmp_esrb64/finetune/final_model

Arguments (`:key=value,...`): `model` (esrb | edsr_8_128 | msrresnet), `feat`, `blocks`
(width/depth overrides, e.g. a CPU-sized ESRB-6-64), `criterion` (channel | weight |
total_fixed | total), `metric` (flops | params), `channel` / `weight` (target pruning ratios
gamma_C, gamma_W), `reg` (L1 strength on the channel vectors), `wreg` (on the weight
indicators), `ind_lr` (the indicators' learning rate as a multiple of the model's: they start
at 1 and Adam moves a parameter by about lr per step, so at lr 1e-4 an indicator needs ~1e4
steps to reach 0; x20 lets a CPU-length search prune weights), `search` (max search steps),
`steps` (fine-tuning steps), `scale` (2, 3 or 4; default 4), `table1`, `demo`.

`table1` (FMP supplement, Table 1): ESRB-6-256 at `scale`, not pretrained, pruned by the
table's parameter prune ratio (91.52 / 91.67 / 91.48 % at x2 / x3 / x4: 694K / 684K / 704K
params left; FLOPs 153.7 / 67.3 / 39.0 G at a 1280x720 output) with the paper's "total"
criterion in params (gamma_C + gamma_W >= the ratio; `channel` = the ratio - `weight`):
    python -m jaxsr.train --config=configs/fmp.py:table1,scale=2 --workdir=workdirs/fmp_t1_x2
The search's hyperparameters are this config's CPU ones (reg 2.0, ...): at the paper's scale
(DIV2K, HR 192) set `reg`, `search` and `steps` to the paper's. tests/test_fmp.py checks the
dense model's params and FLOPs (= Table 1's) and the criterion, and runs a short x4 search
(`table1,scale=4,ind_lr=200,wreg=5`, embedded images, HR 96, batch 1, lr 1e-4): measured on
the 2-core CPU, it met the criterion at step 22 with gamma_C 0.011 + gamma_W 0.904 = 0.9148,
leaving 710,528 non-zero params (Table 1: 704K, +0.9 %: the ratio counts kernels, the table
all params, biases included) and 40.30 GMACs at 1280x720 (39.0 G, +3.3 %: the criterion is
in params, so MACs follow where the weights went). Without `fmp.trim` the converging step
overshot (at lr 1e-3: 659K, -6.4 %). At lr 1e-3 (5e-3) the 256-wide search's loss grew to
~1e10 (non-finite) within 50 steps, so the test keeps the config's lr 1e-4.
"""

from jaxsr import methods
from jaxsr.configs_lib import load_sibling, parse_arg

# FMP supplement, Table 1: scale -> (params prune ratio, params left, FLOPs left at 1280x720)
TABLE1 = {2: (0.9152, 694e3, 153.7e9), 3: (0.9167, 684e3, 67.3e9), 4: (0.9148, 704e3, 39.0e9)}


def get_config(arg: str | None = None):
    a = parse_arg(
        arg,
        model="esrb",
        feat=0,
        blocks=0,
        criterion="total",
        metric="flops",
        channel=0.3,
        weight=0.05,
        reg=2.0,
        wreg=0.5,
        ind_lr=20.0,
        search=0,
        steps=0,
        scale=4,
        table1=False,
        demo=False,
    )
    if a.scale not in TABLE1:
        raise ValueError(f"scale={a.scale}; known: 2, 3, 4")
    if a.table1:
        if a.demo or a.model != "esrb" or a.feat or a.blocks:
            raise ValueError("table1 is ESRB-6-256 on ../shared: drop demo, model, feat, blocks")
        a.feat, a.blocks, a.metric, a.criterion = 256, 6, "params", "total"
        a.channel = TABLE1[a.scale][0] - a.weight
    if a.model not in ("esrb", "edsr_8_128", "msrresnet"):
        raise ValueError(f"model={a.model!r}; known: esrb, edsr_8_128, msrresnet")
    dense = load_sibling(__file__, "dense.py")
    c = dense.get_config("demo" if a.demo else "shared")
    over = {}
    if a.demo:
        over = {"num_feat": 32, "num_block": 2} if a.model == "esrb" else dict(c.model.overrides)
        steps, search = a.steps or 200, a.search or 300
        c.train.log_every, c.eval.every, c.ckpt.every = 10, 100, 100
    else:
        steps, search = a.steps or 2000, a.search or 2000
        c.train.loss, c.optim.eps, c.optim.lr = "l1", 1e-8, 1e-4
        c.optim.schedule, c.optim.milestones, c.optim.gamma = "multistep", (2 * steps // 3,), 0.5
        c.train.log_every, c.eval.every, c.ckpt.every = 25, steps, 500
    if a.feat:
        over["num_feat"] = a.feat
    if a.blocks:
        over["num_block"] = a.blocks
    c.model.name, c.model.scale, c.model.overrides = a.model, a.scale, over
    c.method = "fmp"
    c.fmp = methods.default_config("fmp")
    c.fmp.criterion, c.fmp.metric = a.criterion, a.metric
    c.fmp.channel_ratio, c.fmp.weight_ratio = float(a.channel), float(a.weight)
    c.fmp.reg_channel, c.fmp.reg_weight, c.fmp.ind_lr = float(a.reg), float(a.wreg), a.ind_lr
    c.fmp.search_steps = search
    c.train.steps = steps
    return c
