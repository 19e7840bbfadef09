"""One-shot N:M vs SR-STE at equal budgets, fine-tuning the published RFDN x4 to 2:4.

    python -m jaxsr.experiment --spec=experiments/nm_rfdn.py      # ~15 min, 2-core CPU

Ported from `launch/nm_experiment.sh workdirs/nm_rfdn 2 4 1500` (RESULTS.md, "One-shot N:M
vs SR-STE"). Start: the published RFDN x4 (`../shared/weights/rfdn_x4.pth`); 2:4 along the
input channels of every conv but the first (`fea_conv`) and the last (`upsampler_0`). Same
budget for both methods: 1500 steps on ../shared/data/train, HR 96, batch 16, flips +
rotations, L1, Adam 1e-4 halved at step 1000, seed 0. One-shot: magnitude 2:4 masks of the
published weights, fixed; its 0-step run (`train.steps=0`) is that model before any
fine-tuning. SR-STE: dense weights, masks recomputed every step, lambda_w = 2e-4. One seed.
"""

from jaxsr.configs_lib import shared_dir
from jaxsr.experiment import Run, Spec
from jaxsr.experiment.spec import description

N, M, STEPS = 2, 4, 1500
DESCRIPTION = description(__doc__, "experiments/nm_rfdn.py")


def get_spec(arg: str | None = None) -> Spec:
    if arg:
        raise ValueError(f"experiments/nm_rfdn.py: no variants (got {arg!r})")
    common = {"eval.every": STEPS, "eval.sets": ("Set5",), "train.log_every": 25}
    oneshot = f"configs/nm_oneshot.py:model=rfdn,n={N},m={M},steps={STEPS}"
    runs = [
        Run(
            f"one-shot {N}:{M}",
            oneshot,
            0,
            {**common, "train.steps": 0},
            "0 steps",
            "oneshot_0_steps",
        ),
        Run(f"one-shot {N}:{M}", oneshot, 0, common, f"{STEPS} steps", "nm_oneshot"),
        Run(
            f"SR-STE {N}:{M}",
            f"configs/sr_ste.py:model=rfdn,n={N},m={M},steps={STEPS}",
            0,
            common,
            f"{STEPS} steps",
            "sr_ste",
        ),
    ]
    shared = shared_dir()
    return Spec(
        name="nm_rfdn",
        runs=runs,
        data=str(shared / "data" / "benchmark"),
        description=DESCRIPTION,
        baselines={"RFDN-published": f"rfdn@{shared / 'weights' / 'rfdn_x4.pth'}"},
        scale=4,
    )
