"""Dense vs UPru vs DUPru at equal training budgets, fine-tuning the published RFDN x4.

    python -m jaxsr.experiment --spec=experiments/prune_rfdn.py      # ~30 min, 2-core CPU

Ported from `launch/prune_experiment.sh workdirs/prune_rfdn 3 300 10` (RESULTS.md, "Dense vs
UPru vs DUPru ... RFDN x4"). Start: the published RFDN x4 (`../shared/weights/rfdn_x4.pth`,
W0 = a trained model), fine-tuned on ../shared/data/train (`configs/upru.py:rfdn`: HR 96,
batch 16, L1, Adam 1e-5). Budget 900 steps per method: dense one 900-step run; UPru/DUPru
3 rounds x 300 steps, 10 % of the surviving weights of every conv but the first and last
pruned per round, rewound to W0; DUPru freezes |w| < 1e-4. One seed, as the launcher ran.
The published model itself is a baseline row (evaluated, not trained).
"""

from jaxsr.configs_lib import shared_dir
from jaxsr.experiment import Run, Spec
from jaxsr.experiment.spec import description

ROUNDS, STEPS, PERCENT = 3, 300, 10.0


DESCRIPTION = description(__doc__, "experiments/prune_rfdn.py")


def get_spec(arg: str | None = None) -> Spec:
    if arg:
        raise ValueError(f"experiments/prune_rfdn.py: no variants (got {arg!r})")
    common = {"train.log_every": 50, "ckpt.every": STEPS}
    prune = {**common, "pruning.rounds": ROUNDS, "pruning.percent": PERCENT}
    shared = shared_dir()
    runs = [
        Run(
            "dense",
            "configs/upru.py:rfdn",
            0,
            {
                **common,
                "method": "dense",
                "train.steps": ROUNDS * STEPS,
                "eval.every": ROUNDS * STEPS,
            },
        ),
        Run(
            "UPru", "configs/upru.py:rfdn", 0, {**prune, "train.steps": STEPS, "eval.every": STEPS}
        ),
        Run(
            "DUPru",
            "configs/dupru.py:rfdn",
            0,
            {**prune, "train.steps": STEPS, "eval.every": STEPS},
        ),
    ]
    return Spec(
        name="prune_rfdn",
        runs=runs,
        data=str(shared / "data" / "benchmark"),
        description=DESCRIPTION,
        baselines={"RFDN-published": f"rfdn@{shared / 'weights' / 'rfdn_x4.pth'}"},
        scale=4,
    )
