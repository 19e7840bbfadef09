"""8 simulated CPU devices (data parallel over the mesh) give the 1-device result to float32
rounding for every method: the params of the exported model, its masks exactly, pruned
weights exactly 0, the method's events at the same step. XLA fixes the device count when the
backend starts, so one subprocess runs every recipe on 1 and on 8 devices; one test per
recipe reads its result."""

from __future__ import annotations

import json

import pytest

from .conftest import run_with_8_cpu_devices

# MSE, not L1, where masks are in play: after pruning, flat image regions can give residuals
# of exactly 0 on one device and +-1e-10 (another summation order) on 8, where L1's gradient
# sign flips and Adam's normalisation turns that into lr-sized differences.
CASES = {  # id: (tests/configs name, variant, overrides, exported model under the workdir, tol)
    "dense": ("tiny", None, {"train.steps": 15}, "final_model", 1e-5),
    "dupru": (
        "tiny_prune",
        "dupru",
        {"train.steps": 15, "pruning.rounds": 2},
        "round_02/final_model",
        1e-4,
    ),
    "nm_oneshot": (
        "tiny_nm",
        "nopre",
        {"train.steps": 12, "train.loss": "mse"},
        "final_model",
        1e-5,
    ),
    "sr_ste": (
        "tiny_nm",
        "nopre,sr_ste",
        {"train.steps": 12, "train.loss": "mse"},
        "final_model",
        1e-5,
    ),
    "sls": ("tiny_sls", "steps=16,lr=0.02", {"train.loss": "mse"}, "final_model", 1e-5),
}

_SCRIPT = """
import json, sys
from pathlib import Path
import jax, numpy as np
from flax import traverse_util
from jaxsr import model_dir, train
from tests.conftest import tiny_config, with_overrides
assert jax.device_count() == 8, jax.devices()
cases, data, work = json.loads(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
flat = lambda t: traverse_util.flatten_dict(jax.tree.map(np.asarray, t), sep="/")
out = {}
for case, (name, variant, over, model, _) in cases.items():
    runs = []
    for n in (1, 8):
        c = with_overrides(tiny_config(name, variant, data), **over, **{"mesh.num_devices": n})
        c.eval.sets, c.eval.select = (), ""  # the params are compared, not evaluated
        w = work / case / f"n{n}"
        train.run(c, w, quiet=True)
        _, p, _ = model_dir.load_model(w / model)
        masks = model_dir.load_masks(w / model)
        events = json.loads((w / model).parent.joinpath("summary.json").read_text())["events"]
        runs.append((flat(p), flat(masks) if masks else {}, events))
    (p1, m1, e1), (p8, m8, e8) = runs
    out[case] = {
        "same_keys": sorted(p1) == sorted(p8) and sorted(m1) == sorted(m8),
        "max_abs_diff": max(float(np.max(np.abs(p1[k] - p8[k]))) for k in p1),
        "max_abs_param": max(float(np.max(np.abs(v))) for v in p1.values()),
        "same_masks": all(np.array_equal(m1[k], m8[k]) for k in m1),
        "num_masks": len(m1),
        "pruned_zero": all(np.all(p8[k][~m8[k]] == 0) for k in m8),
        "events": [e1, e8],
    }
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def eight_vs_one(data_dir, tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("devices")
    args = [json.dumps(CASES), str(data_dir), str(work)]
    return run_with_8_cpu_devices(_SCRIPT, args=args)  # cwd: the repo (imports tests.*)


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_eight_simulated_devices_match_one(case, eight_vs_one):
    r, tol = eight_vs_one[case], CASES[case][4]
    assert r["same_keys"], r
    assert r["max_abs_diff"] < tol * max(1.0, r["max_abs_param"]), r
    assert r["same_masks"] and r["pruned_zero"], r
    assert r["events"][0] == r["events"][1], r
    if case != "dense":
        assert r["num_masks"] > 0, r  # the exported model carries its masks
    if case == "sls":
        assert r["events"][0]["budget_met"] > 0, r
