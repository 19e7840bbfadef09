"""L1-norm filter pruning (SLS baseline): a physically smaller model, then fine-tuning.

Commands:
    python -m jaxsr.train --config=configs/l1_filter.py:demo --workdir=workdirs/l1_demo
    python -m jaxsr.train --config=configs/l1_filter.py:model=rfdn,target=0.5 --workdir=...
    python -m jaxsr.train --config=configs/l1_filter.py:model=rfdn,upsampler --workdir=...
    python -m jaxsr.evaluate --weights=workdirs/l1_rfdn/finetune/final_model \
        --data=../shared/data/benchmark
    python -m jaxsr.complexity --weights=workdirs/l1_rfdn/finetune/final_model

Arguments (`:key=value,...`): `model` (rfdn | carn_m | msrresnet), `target` (kept fraction of
the dense model's MACs at a 1280x720 output; default 0.5), `upsampler` (also prune the
upsampler: sub-pixel channel groups physically, and mask the low-L1 filters of the conv that
produces the image channels, RFDN's pixel-shuffle conv: the SLS paper's collapse), `skip`
(a regex of channel groups left dense, e.g. `skip=fea_conv`: RFDN's residual trunk), `steps`
(fine-tuning steps; default 2000, 200 with `demo`), `demo`.

Recipe (SLS paper, Sec. 4 and Table 2, "L1-norm filter pruning" after Li et al. 2017):
rank output filters by L1 norm, remove the smallest, fine-tune (300k iterations, HR patch
192, batch 16, Adam 1e-4 halved at 2/3, L1, DIV2K) from the published x4 model. Here: output
filters are ranked jointly within a traced channel group (`jaxsr.channels`), every group
keeps the same fraction (>= 4 units), the fraction is the largest meeting `target`; then the
same CPU budget as the N:M baselines (`configs/nm_oneshot.py`): HR patch 96, batch 16,
`steps` on `../shared/data/train`, Adam 1e-4 halved at 2/3, L1. Expected runtime: the pruned
model's step time (smaller than dense, BENCHMARKS.md) x `steps` plus evaluations; expected
result: RESULTS.md (L1 filter pruning section).

`:demo` (no ../shared needed): a small MSRResNet x4 (32 features, 4 blocks) trained dense for
300 steps on the embedded sample images (stage `pretrain`, = the dense demo), pruned to half
its MACs and fine-tuned for 200 steps (stage `finetune`); about 70 s here (RESULTS.md,
demos). `model=rfdn,demo`: 200 fine-tuning steps of the published checkpoint, Set5 only.
"""

from jaxsr import methods
from jaxsr.configs_lib import load_sibling, parse_arg


def get_config(arg: str | None = None):
    a = parse_arg(arg, model="", target=0.5, upsampler=False, skip="", steps=0, demo=False)
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
        if model not in (*nm.CHECKPOINTS, "msrresnet"):
            raise ValueError(f"model={model!r}; known: rfdn, carn_m, msrresnet")
        c = dense.get_config("shared")
        c.method = "l1_filter"
        c.l1 = methods.default_config("l1_filter")
        nm.shared_run(c, c.l1, model, nm.CHECKPOINTS.get(model), steps, a.demo)
    c.l1.target, c.l1.upsampler = float(a.target), bool(a.upsampler)
    if a.skip:  # groups left dense, e.g. skip=fea_conv (RFDN's residual trunk)
        c.l1.rules = ((a.skip, False), (".*", True))
    return c
