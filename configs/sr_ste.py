"""SR-STE (SLS baseline): N:M-masked forward pass recomputed from dense weights every step,
straight-through backward plus λ_w·(1−mask)·w on the pruned weights (λ_w = `nm.decay`, 2e-4).

Commands:
    python -m jaxsr.train --config=configs/sr_ste.py:demo --workdir=workdirs/srste_demo
    python -m jaxsr.train --config=configs/sr_ste.py:model=rfdn --workdir=workdirs/srste_rfdn
    python -m jaxsr.train --config=configs/sr_ste.py:model=carn_m,n=4,m=16 --workdir=...
    python -m jaxsr.evaluate --weights=workdirs/srste_rfdn/final_model \
        --data=../shared/data/benchmark

Arguments and recipe as `configs/nm_oneshot.py` (same data, steps, optimizer and starting
checkpoints, so the two baselines are compared at equal budgets); only the method differs.
The exported model holds the N:M-masked weights (and the masks), so it evaluates without
any SR-STE code. Expected runtime: about the dense step (the masks are recomputed every step
at ~1 % of its cost; BENCHMARKS.md). Expected result: at or above one-shot N:M at the same
N:M and budget in the SLS paper; at CPU scale (RESULTS.md) RFDN x4 2:4 after 1500 steps
gives Set5 / Set14 / B100 Y-PSNR 31.37 / 27.97 / 27.22 dB, equal to one-shot within 0.03.

`scratch` (the SLS paper's protocol for SR-STE, which needs no dense model: SR-STE trains
600 epochs from scratch while the other methods pretrain 300 and prune 300): SR-STE from the
seeded init for 2 x `steps` steps (Adam 1e-4 halved at 2/3), the budget of a method that
pretrains `steps` and prunes `steps` (e.g. `configs/sls.py:model=msrresnet,steps=S`):
    python -m jaxsr.train --config=configs/sr_ste.py:model=msrresnet,n=2,m=32,steps=1000,scratch \
        --workdir=workdirs/srste_scratch     # 2000 SR-STE steps

`:demo` (no ../shared): 300 dense steps (`pretrain`) then 200 SR-STE 2:4 steps on the
embedded images (wall time and Y-PSNR: RESULTS.md, demos).
"""

from jaxsr.configs_lib import load_sibling


def get_config(arg: str | None = None):
    return load_sibling(__file__, "nm_oneshot.py").build("sr_ste", arg)
