"""L1-norm filter pruning (SLS baseline): a physically smaller model, then fine-tuning.

Commands:
    python -m jaxsr.train --config=configs/l1_filter.py:demo --workdir=workdirs/l1_demo
    python -m jaxsr.train --config=configs/l1_filter.py:model=rfdn,target=0.5 --workdir=...
    python -m jaxsr.train --config=configs/l1_filter.py:model=rfdn,scheme=joint --workdir=...
    python -m jaxsr.train --config=configs/l1_filter.py:sls_edsr --workdir=workdirs/l1_edsr
    python -m jaxsr.evaluate --weights=workdirs/l1_rfdn/finetune/final_model \
        --data=../shared/data/benchmark
    python -m jaxsr.complexity --weights=workdirs/l1_rfdn/finetune/final_model

Arguments (`:key=value,...`): `model` (rfdn | carn_m | msrresnet | edsr_baseline; the last
two have no published weights, so a dense `pretrain` stage of `steps` steps comes first),
`scheme` (`li`, default: Li et al., filters ranked within their layer, residual trunks
dense; `joint`: trunks pruned too, ranked jointly over their convs; `jaxsr.channels.l1`),
`target` (kept fraction of the dense model's MACs at a 1280x720 output; default 0.8 with
`li`, 0.5 with `joint`),
`fraction` (keep this fraction of every pruned group instead of fitting `target`),
`upsampler` (also prune the sub-pixel channel groups of upsampling convs; the channels a
conv writes into the image are never pruned), `skip` (a regex of channel groups left dense,
e.g. `skip=fea_conv`: RFDN's residual trunk under `joint`), `steps` (fine-tuning steps;
default 2000, 200 with `demo`), `demo`, `sls_edsr`.

Recipe (SLS paper, Sec. 4 and Table 2, "L1-norm filter pruning" after Li et al. 2017):
rank output filters by L1 norm, remove the smallest, fine-tune (300k iterations, HR patch
192, batch 16, Adam 1e-4 halved at 2/3, L1, DIV2K) from the published x4 model. Here: the
same CPU budget as the N:M baselines (`configs/nm_oneshot.py`): HR patch 96, batch 16,
`steps` on `../shared/data/train`, Adam 1e-4 halved at 2/3, L1. Expected runtime: the pruned
model's step time (smaller than dense, BENCHMARKS.md) x `steps` plus evaluations; expected
result: RESULTS.md (L1 filter pruning section).

`sls_edsr` = `model=edsr_baseline,scheme=joint,fraction=0.5,upsampler`: the SLS paper's L1
row for EDSR-baseline x4 at 1/4 of the MACs (Table 2: 380.93K params): every channel group
halved, the trunk and the upsampler's sub-pixel groups included, the RGB conv's 3 output
channels kept: 380,931 params (a dense `pretrain` stage first: no published EDSR-baseline
in ../shared).

`:demo` (no ../shared needed): a small MSRResNet x4 (32 features, 4 blocks) trained dense for
300 steps on the embedded sample images (stage `pretrain`, = the dense demo), pruned to 0.8
of its MACs (Li et al.: the residual trunk dense) and fine-tuned for 200 steps (stage
`finetune`); about 70 s here (RESULTS.md,
demos). `model=rfdn,demo`: 200 fine-tuning steps of the published checkpoint, Set5 only.
"""

from jaxsr import methods
from jaxsr.configs_lib import load_sibling, parse_arg


def get_config(arg: str | None = None):
    a = parse_arg(
        arg,
        model="",
        scheme="li",
        target=0.0,
        fraction=0.0,
        upsampler=False,
        skip="",
        steps=0,
        demo=False,
        sls_edsr=False,
    )
    if a.sls_edsr:
        if a.model not in ("", "edsr_baseline") or a.demo:
            raise ValueError("sls_edsr is EDSR-baseline on ../shared: drop model= and demo")
        a.model, a.scheme, a.fraction, a.upsampler = "edsr_baseline", "joint", 0.5, True
    if a.steps < 0:
        raise ValueError(f"steps={a.steps} must be > 0")
    steps = a.steps or (200 if a.demo else 2000)
    dense = load_sibling(__file__, "dense.py")
    nm = load_sibling(__file__, "nm_oneshot.py")
    if a.demo and not a.model:
        c = dense.get_config("demo")
        c.method = "l1_filter"
        c.l1 = methods.default_config("l1_filter")
        c.l1.pretrain_steps = c.train.steps  # the dense demo's 300 steps
        c.train.steps, c.eval.every, c.ckpt.every = steps, 100, 100
    else:
        model = a.model or "rfdn"
        if model not in (*nm.CHECKPOINTS, "msrresnet", "edsr_baseline"):
            raise ValueError(f"model={model!r}; known: rfdn, carn_m, msrresnet, edsr_baseline")
        if model not in nm.CHECKPOINTS and a.demo:
            raise ValueError(f"model={model},demo: no published {model}; use ':demo' alone")
        c = dense.get_config("shared")
        c.method = "l1_filter"
        c.l1 = methods.default_config("l1_filter")
        nm.shared_run(c, c.l1, model, nm.CHECKPOINTS.get(model), steps, a.demo)
    # default target: with Li et al.'s dense trunks RFDN cannot reach half its MACs (0.76)
    target = a.target or (0.8 if a.scheme == "li" else 0.5)
    c.l1.target, c.l1.upsampler = float(target), bool(a.upsampler)
    c.l1.scheme, c.l1.fraction = a.scheme, float(a.fraction)
    if a.skip:  # groups left dense, e.g. skip=fea_conv (RFDN's residual trunk)
        c.l1.rules = ((a.skip, False), (".*", True))
    return c
