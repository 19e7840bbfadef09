"""SLS vs one-shot N:M vs SR-STE at equal step budgets, from the published RFDN x4 (M = 32).

    python -m jaxsr.experiment --spec=experiments/sls_rfdn.py      # ~2.3 h, 2-core CPU

Every run: 1000 steps on ../shared/data/train from the published RFDN x4, every conv but the
first pruned (RFDN's last, upsampling conv included, as the paper's Fig. 6). One-shot N:M
and SR-STE: uniform 8:32, 4:32, 2:32. SLS (`configs/sls.py`, the time-compressed protocol):
lambda 1e-10 in the paper's units (L1 on [0, 255], costs at the paper's HR patch 192), the
official code's annealing (T 0.2 on the compression factor, alpha 1.2) every K = 7 steps and
re-ranking every R = 3 steps (the code's 2000 / 1000 of 300k iterations, scaled to 1000),
lr halved at 2/3, scores at Adam lr 1e-3 (the paper's 1e-4 measured in RESULTS.md). Targets
1/4, 1/8, 1/16 of the pruned convs' MACs; ablations at 1/8 without the priority ordering
(POP) and without annealing (lambda fixed at the final lambda of the annealed 1/8 run, as the
paper's Table 3); and SLS at the MACs the uniform baselines really keep (`jaxsr.report
--ratio` of each one-shot model), the comparison at equal MACs. One seed, except the 1/8
ablations: seeds 0-2 of SLS, no POP and no annealing (seed 0 put no POP 0.08 dB below SLS on
B100; the equal-MACs pairs differ by 0.5 dB or more). Earlier version (RESULTS.md history,
before issue 26): the regulariser was ~6,400x stronger per lambda (costs at 1280x720, L1 on
[0, 1]) and the searches ended after 2-15 % of the steps.
"""

import json
from pathlib import Path

from jaxsr.configs_lib import shared_dir
from jaxsr.experiment import Run, Spec
from jaxsr.experiment.spec import FromRun, description

STEPS = 1000


def final_lambda(workdir: Path) -> float:
    """The last logged lambda of an SLS run (metrics.jsonl train records)."""
    recs = [json.loads(ln) for ln in (workdir / "metrics.jsonl").read_text().splitlines()]
    return [r["lam"] for r in recs if r.get("kind") == "train" and "lam" in r][-1]


def kept_ratio(workdir: Path) -> float:
    """Kept / dense MACs of the masked convs of a finished N:M run's model."""
    from jaxsr.experiment.tables import masked_macs_ratio

    return round(masked_macs_ratio(workdir / "final_model"), 6)


DESCRIPTION = description(__doc__, "experiments/sls_rfdn.py")


ABLATION_SEEDS = (0, 1, 2)


def get_spec(arg: str | None = None) -> Spec:
    if arg:
        raise ValueError(f"experiments/sls_rfdn.py: no variants (got {arg!r})")
    common = {"eval.every": STEPS, "eval.sets": ("Set5",), "train.log_every": 25}
    runs = []
    for budget in (4, 8, 16):  # the paper's targets, and its Table 3 ablations at 1/8
        runs.append(
            Run(
                "SLS",
                f"configs/sls.py:model=rfdn,budget={budget},steps={STEPS}",
                0,
                common,
                f"1/{budget}",
                f"sls_1of{budget}",
            )
        )
    for n in (8, 4, 2):  # equal MACs: the uniform N:M models and SLS at what they keep
        runs += [
            Run(
                "one-shot N:M",
                f"configs/nm_oneshot.py:model=rfdn,n={n},m=32,steps={STEPS}",
                0,
                common,
                f"{n}:32",
                f"oneshot_{n}of32",
            ),
            Run(
                "SR-STE",
                f"configs/sr_ste.py:model=rfdn,n={n},m=32,steps={STEPS}",
                0,
                common,
                f"{n}:32",
                f"sr_ste_{n}of32",
            ),
            Run(
                "SLS at the N:M's MACs",
                f"configs/sls.py:model=rfdn,steps={STEPS}",
                0,
                {**common, "sls.target": FromRun(f"oneshot_{n}of32", kept_ratio, "kept MACs")},
                f"{n}:32",
                f"sls_match_{n}of32",
            ),
        ]
    for seed in ABLATION_SEEDS:  # Table 3 at 1/8; seeds 1-2: SLS vs no POP < 0.1 dB (B100)
        tag = f"_s{seed}" if seed else ""
        if seed:
            runs.append(
                Run(
                    "SLS",
                    f"configs/sls.py:model=rfdn,budget=8,steps={STEPS}",
                    seed,
                    common,
                    "1/8",
                    f"sls_1of8{tag}",
                )
            )
        runs += [
            Run(
                "SLS no POP",
                f"configs/sls.py:model=rfdn,budget=8,steps={STEPS},nopop",
                seed,
                common,
                "1/8",
                f"sls_1of8_nopop{tag}",
            ),
            Run(
                "SLS no annealing",
                f"configs/sls.py:model=rfdn,budget=8,steps={STEPS},noanneal",
                seed,
                {**common, "sls.lam": FromRun(f"sls_1of8{tag}", final_lambda, "final lambda")},
                "1/8",
                f"sls_1of8_noanneal{tag}",
            ),
        ]
    shared = shared_dir()
    return Spec(
        name="sls_rfdn",
        runs=runs,
        data=str(shared / "data" / "benchmark"),
        description=DESCRIPTION,
        baselines={"RFDN-published": f"rfdn@{shared / 'weights' / 'rfdn_x4.pth'}"},
        scale=4,
    )
