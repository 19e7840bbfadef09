"""SLS adaptive inference: tiles, eq. 8 routing, MSE-estimator ensembles (bicubic included).

from jaxsr.adaptive import Ensemble
ens = Ensemble.load("workdirs/adaptive/estimator/final_model")
res = ens(lr_uint8, beta=0.5)   # res.image, res.choices, res.macs
"""

from jaxsr.adaptive.ensemble import Ensemble, Result, choice_map, log_mse_error
from jaxsr.adaptive.router import choose, scores
from jaxsr.adaptive.tiles import Grid

__all__ = ["Ensemble", "Grid", "Result", "choice_map", "choose", "log_mse_error", "scores"]
