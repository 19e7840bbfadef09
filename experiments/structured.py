"""FMP vs L1 filter pruning vs dense at matched FLOPs: ESRB-4-48 x4 from scratch, 3 seeds.

    python -m jaxsr.experiment --spec=experiments/structured.py      # ~1 h, 2-core CPU
    python -m jaxsr.experiment --spec=experiments/structured.py:demo

Ported from `launch/structured_experiment.sh workdirs/sc "0 1 2"` (removed; `git show
cdc0420:launch/structured_experiment.sh`): `configs/structured_compare.py` with
method = fmp, l1, dense and seeds 0, 1, 2 — ESRB-4-48 x4 pruned to half its MACs, 1500
steps in all for every method (FMP: search <= 600 steps then fine-tuning; L1: 600 dense
steps, prune, fine-tune; dense: the smaller ESRB of matched MACs), ../shared/data/train,
HR 96, batch 16, L1, Adam 5e-4.
"""

from jaxsr.configs_lib import SAMPLES, shared_dir
from jaxsr.experiment import Run, Spec
from jaxsr.experiment.spec import description

DESCRIPTION = description(__doc__, "experiments/structured.py")


def get_spec(arg: str | None = None) -> Spec:
    if arg not in (None, "demo"):
        raise ValueError(f"experiments/structured.py: unknown variant {arg!r} (demo)")
    demo = arg == "demo"
    seeds = (0,) if demo else (0, 1, 2)
    extra = ",demo" if demo else ""
    runs = [
        Run(
            {"fmp": "FMP", "l1": "L1 filter", "dense": "dense (matched MACs)"}[m],
            f"configs/structured_compare.py:method={m},seed={s}{extra}",
            s,
            name=f"{m}_s{s}",
        )
        for s in seeds
        for m in ("fmp", "l1", "dense")
    ]
    data = str(SAMPLES) if demo else str(shared_dir() / "data" / "benchmark")
    return Spec(
        name="structured_demo" if demo else "structured",
        runs=runs,
        data=data,
        sets=("Demo",) if demo else ("Set5", "Set14", "B100"),
        description=DESCRIPTION,
        baselines={"bicubic": "bicubic"},
        scale=4,
        out="workdirs/structured_demo/results" if demo else "",
    )
