"""L1 filter pruning of the published RFDN x4 to half its MACs: the trunk and the upsampler.

    python -m jaxsr.experiment --spec=experiments/l1_rfdn.py      # ~45 min, 2-core CPU

Ported from `launch/l1_experiment.sh workdirs/l1_exp 1000 0.5` (RESULTS.md, "L1 filter
pruning of the published RFDN x4"). `configs/l1_filter.py:model=rfdn,target=0.5[,skip=fea_conv]
[,upsampler]`: every selected channel group keeps the same top-L1 fraction (>= 4 units), the
largest one meeting half the dense MACs (1280x720 output). "all groups": the 42 internal
groups, including the residual trunk `fea_conv` (fea_conv, LR_conv and B1's c1_r/c2_r/c3_r,
which add their input); "trunk dense": `skip=fea_conv`, the other 41; "+ upsampler": also
the 48 filters of the pixel-shuffle conv `upsampler_0` ranked by L1 and masked, as the SLS
paper's L1 baseline did. Each is evaluated right after pruning (0 steps, `train.steps=0`)
and after 1000 fine-tuning steps on ../shared/data/train (HR 96, batch 16, L1, Adam 1e-4
halved at step 666, seed 0: the N:M baselines' recipe). GMACs and params count masked
filters as removed. One seed.
"""

from jaxsr.configs_lib import shared_dir
from jaxsr.experiment import Run, Spec
from jaxsr.experiment.spec import description

STEPS, TARGET = 1000, 0.5
DESCRIPTION = description(__doc__, "experiments/l1_rfdn.py")


def get_spec(arg: str | None = None) -> Spec:
    if arg:
        raise ValueError(f"experiments/l1_rfdn.py: no variants (got {arg!r})")
    common = {"eval.every": STEPS, "eval.sets": ("Set5",), "train.log_every": 25}
    runs = []
    for trunk in ("", "skip=fea_conv"):
        for up in ("", "upsampler"):
            group = "L1 " + ("trunk dense" if trunk else "all groups") + (" + upsampler" * bool(up))
            name = (
                f"rfdn_l1_t{TARGET}" + ("_densetrunk" if trunk else "") + (f"_{up}" if up else "")
            )
            arg_ = ",".join(
                x for x in (f"model=rfdn,target={TARGET},steps={STEPS}", trunk, up) if x
            )
            cfg = f"configs/l1_filter.py:{arg_}"
            runs += [
                Run(group, cfg, 0, {**common, "train.steps": 0}, "0 steps", f"{name}_0steps"),
                Run(group, cfg, 0, common, f"{STEPS} steps", name),
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
