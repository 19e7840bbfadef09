"""DUPru: UPru + freezing weights with |w| < EPS during training (paper eq. 4), MSRResNet x4.

Command:
    JAXSR_DIV2K=/data/DIV2K python -m jaxsr.train --config=configs/dupru.py --workdir=workdirs/dupru
    python -m jaxsr.train --config=configs/dupru.py:demo --workdir=workdirs/dupru_demo
    python -m jaxsr.train --config=configs/dupru.py:rfdn --workdir=workdirs/dupru_rfdn

Everything as `configs/upru.py` (see there: recipe, p = 2.05 %, T = 5, E = 60k, variants),
plus the freeze of weights whose magnitude is below EPS (`pruning.freeze`,
`jaxsr.methods.magnitude`): by default as the paper's eq. 4 / Algorithm 1, their gradient is
zeroed before Adam (Adam's momentum still moves them a little);
`--config.pruning.freeze=update` zeroes their final update instead (nothing moves them),
`both` does both. The paper calls EPS "a fixed positive threshold" without a value;
the default 1e-4 is ~2 % of the init std of a 3x3x64 conv under MSRResNet's 0.1-scaled Kaiming
init (0.1*sqrt(2/576) = 5.9e-3), so freezing touches only weights that are already negligible.
Expected runtime: as UPru (the freeze costs < 3 % per step, BENCHMARKS.md).
Expected result (paper Tables 2/3, DUPru): RGB PSNR Set5 30.23 / Set14 26.85 / B100 26.29 dB;
Y 32.12 / 28.64 / 27.59 dB — above both the dense model and UPru. Not reproduced here.
"""

from jaxsr.configs_lib import load_sibling


def get_config(arg: str | None = None):
    return load_sibling(__file__, "upru.py").build("dupru", arg)
