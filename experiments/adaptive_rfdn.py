"""SLS adaptive inference on RFDN x4: MSE estimators for SLS 1/4, 1/8, 1/16 + bicubic.

    python -m jaxsr.experiment --spec=experiments/sls_rfdn.py        # the candidates, first
    python -m jaxsr.experiment --spec=experiments/adaptive_rfdn.py   # ~35 min, 2-core CPU

Ported from `launch/adaptive_experiment.sh workdirs/adaptive 1500 0,0.05,0.1,0.2,0.5`
(RESULTS.md, "Adaptive inference"). The candidates are the SLS runs sls_1of4, sls_1of8 and
sls_1of16 of experiments/sls_rfdn.py (their workdirs under workdirs/sls_rfdn) plus bicubic.
Estimators (`configs/adaptive.py`, `jaxsr.models.estimator`): one 16-channel CNN per
candidate, trained 1500 steps on windows of 48 LR px (core 32 + context 8 on each side) from
../shared/data/train, batch 16, L1 on log MSE, Adam 1e-3 halved at step 1000, the candidates
frozen. Evaluated on Set14 and B100 (never seen in training; Set5 was the SLS runs' training
eval) at every beta of eq. 8 and with every candidate alone on the same tiles
(`jaxsr.evaluate --beta=... --alone`); tiles: 32-px cores in 48-px windows, 4-px
cross-fade. GMACs per image are realised: the chosen candidates on their 48-px windows (N:M
zeros not counted) plus the estimators. One estimator seed.
"""

from jaxsr.configs_lib import shared_dir
from jaxsr.experiment import Run, Spec
from jaxsr.experiment.spec import description

STEPS = 1500
BETAS = (0.0, 0.05, 0.1, 0.2, 0.5)
DESCRIPTION = description(__doc__, "experiments/adaptive_rfdn.py")


def get_spec(arg: str | None = None) -> Spec:
    if arg:
        raise ValueError(f"experiments/adaptive_rfdn.py: no variants (got {arg!r})")
    run = Run(
        "adaptive (SLS 1/4, 1/8, 1/16, bicubic)",
        f"configs/adaptive.py:root=workdirs/sls_rfdn,steps={STEPS}",
        0,
        name="estimator",
    )
    return Spec(
        name="adaptive_rfdn",
        runs=[run],
        data=str(shared_dir() / "data" / "benchmark"),
        sets=("Set14", "B100"),
        description=DESCRIPTION,
        betas=BETAS,
        plots=("pareto", "curves"),
    )
