"""L1 filter pruning of the published RFDN x4: Li et al.'s scheme vs the joint one.

    python -m jaxsr.experiment --spec=experiments/l1_rfdn.py      # ~40 min, 2-core CPU

`configs/l1_filter.py:model=rfdn,scheme=S,target=T`: output filters ranked by L1, every
pruned channel group keeps the same fraction (>= 4 units), the largest meeting T x the dense
MACs (1280x720 output); the channels written into the image (RFDN's pixel-shuffle conv) are
never pruned. "L1, Li et al.": `scheme=li` (filters ranked within their layer; the 9 groups
tied across convs stay dense, as Li et al. prune only the first conv of a residual block:
the residual trunk `fea_conv` (fea_conv, LR_conv and B1's c1_r/c2_r/c3_r), each RFDB's
output (c5, its ESA gate conv4 and the next block's c*_r, added to it) and each ESA's conv3_
+ conv_f), at T = 0.8 (with those dense RFDN cannot go below 0.76 of its MACs at >= 4
channels per group); "L1, joint": `scheme=joint` (the trunk pruned too, its units ranked by
the L1 summed over its convs) at T = 0.8 (equal MACs) and at T = 0.5. Each is evaluated
right after pruning (0 steps, `train.steps=0`) and after 1000 fine-tuning steps on
../shared/data/train (HR 96, batch 16, L1, Adam 1e-4 halved at step 666, seed 0: the N:M
baselines' recipe).
Earlier version (before issue 26): joint groups only, and a variant masking the low-L1
filters of the pixel-shuffle conv (which removed image channels); both replaced.
"""

from jaxsr.configs_lib import shared_dir
from jaxsr.experiment import Run, Spec
from jaxsr.experiment.spec import description

STEPS = 1000
DESCRIPTION = description(__doc__, "experiments/l1_rfdn.py")


def get_spec(arg: str | None = None) -> Spec:
    if arg:
        raise ValueError(f"experiments/l1_rfdn.py: no variants (got {arg!r})")
    common = {"eval.every": STEPS, "eval.sets": ("Set5",), "train.log_every": 25}
    runs = []
    for scheme, target in (("li", 0.8), ("joint", 0.8), ("joint", 0.5)):
        group = "L1, Li et al." if scheme == "li" else "L1, joint"
        name = f"rfdn_l1_{scheme}_t{target}"
        cfg = f"configs/l1_filter.py:model=rfdn,scheme={scheme},target={target},steps={STEPS}"
        label = f"{target} MACs"
        runs += [
            Run(group, cfg, 0, {**common, "train.steps": 0}, f"{label}, 0 steps", f"{name}_0"),
            Run(group, cfg, 0, common, f"{label}, {STEPS} steps", name),
        ]
    shared = shared_dir()
    return Spec(
        name="l1_rfdn",
        runs=runs,
        data=str(shared / "data" / "benchmark"),
        description=DESCRIPTION,
        baselines={
            "RFDN-published": f"rfdn@{shared / 'weights' / 'rfdn_x4.pth'}",
            "bicubic": "bicubic",
        },
        scale=4,
    )
