"""PyTorch checkpoint import: strictness, errors, multi-scale heads, Orbax round trip, CLI."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from flax import traverse_util

torch = pytest.importorskip("torch")

import jax  # noqa: E402

from jaxsr import model_dir, models  # noqa: E402
from jaxsr.convert import CheckpointMismatch, convert_state_dict, torch_key_to_path  # noqa: E402

from . import torch_ref  # noqa: E402
from .conftest import REPO, SHARED, needs_shared  # noqa: E402


def _sd(name, scale, **kw):
    ref, _ = torch_ref.build(name, scale, **kw)
    return {k: v.numpy() for k, v in ref.state_dict().items()}


def test_key_mapping_rule():
    assert torch_key_to_path("body.0.conv1.weight") == ("body_0", "conv1", "kernel")
    assert torch_key_to_path("tail.0.2.bias") == ("tail_0_2", "bias")
    assert torch_key_to_path("B1.esa.conv3_.weight") == ("B1", "esa", "conv3_", "kernel")


def test_each_tensor_used_once_and_transposed():
    sd = _sd("imdn", 2)
    params, notes = convert_state_dict(sd, "imdn", 2)
    assert notes == []
    k = sd["IMDB1.c2.weight"]  # OIHW (64, 48, 3, 3)
    np.testing.assert_array_equal(params["IMDB1"]["c2"]["kernel"], k.transpose(2, 3, 1, 0))
    assert models.num_params(params) == sum(v.size for v in sd.values())


def test_module_prefix_is_stripped():
    """A DataParallel checkpoint (keys `module.*`) converts to the same params, no notes."""
    plain = _sd("imdn", 3)
    params, notes = convert_state_dict({f"module.{k}": v for k, v in plain.items()}, "imdn", 3)
    want, _ = convert_state_dict(plain, "imdn", 3)
    assert notes == []
    flat, flat_want = (traverse_util.flatten_dict(p, sep="/") for p in (params, want))
    assert flat.keys() == flat_want.keys() and len(flat) == len(plain)
    for k, v in flat_want.items():
        np.testing.assert_array_equal(flat[k], v, err_msg=k)


def test_wrong_file_names_missing_and_unexpected_keys():
    with pytest.raises(CheckpointMismatch) as e:
        convert_state_dict(_sd("imdn", 4), "rfdn", 4, source="imdn.pth")
    msg = str(e.value)
    assert "\n" not in msg
    assert "imdn.pth does not fit rfdn x4" in msg
    assert "missing keys [B1/c1_d/bias" in msg and "unexpected keys [IMDB1.c1.bias" in msg


def test_shape_mismatch_names_key():
    with pytest.raises(
        CheckpointMismatch, match=r"upsampler.0.bias has shape \(48,\), model expects \(12,\)"
    ):
        convert_state_dict(_sd("imdn", 4), "imdn", 2)


def test_extra_and_missing_single_key():
    sd = _sd("rfdn", 4)
    sd["extra.weight"] = np.zeros(3, np.float32)
    with pytest.raises(CheckpointMismatch, match=r"unexpected keys \[extra.weight\]"):
        convert_state_dict(sd, "rfdn", 4)
    sd = _sd("rfdn", 4)
    del sd["LR_conv.bias"]
    with pytest.raises(CheckpointMismatch, match=r"missing keys \[LR_conv/bias\]"):
        convert_state_dict(sd, "rfdn", 4)


def test_carn_multiscale_head_selection():
    sd = _sd("carn_m", 2, multi_scale=True)
    for scale in (2, 3, 4):
        params, notes = convert_state_dict(sd, "carn_m", scale)
        assert any(f"used the x{scale} head" in n for n in notes)
        np.testing.assert_array_equal(
            params["upsample"]["up"]["body_0"]["kernel"],
            sd[f"upsample.up{scale}.body.0.weight"].transpose(2, 3, 1, 0),
        )


def test_carn_bad_meanshift_rejected():
    sd = _sd("carn_m", 2, multi_scale=True)
    sd["sub_mean.shifter.bias"] = sd["sub_mean.shifter.bias"] + 0.1
    with pytest.raises(CheckpointMismatch, match="sub_mean.shifter: MeanShift"):
        convert_state_dict(sd, "carn_m", 2)


def test_orbax_round_trip(tmp_path):
    params, _ = convert_state_dict(_sd("rfdn", 4), "rfdn", 4)
    out = model_dir.save_model(tmp_path / "m", params, "rfdn", 4)
    module, restored, meta = model_dir.load_model(out)
    assert meta["model"] == "rfdn" and meta["scale"] == 4
    jax.tree.map(np.testing.assert_array_equal, params, jax.tree.map(np.asarray, restored))
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    with pytest.raises(FileExistsError, match="already exists"):
        model_dir.save_model(out, params, "rfdn", 4)


@needs_shared
def test_cli_converts_published_rfdn(tmp_path):
    out = tmp_path / "rfdn_x4"
    cmd = [
        sys.executable,
        "-m",
        "jaxsr.convert",
        "--model=rfdn",
        "--scale=4",
        f"--torch={SHARED / 'weights' / 'rfdn_x4.pth'}",
        f"--out={out}",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "433,448 params" in r.stdout
    _, params, _ = model_dir.load_model(out)
    sd = torch.load(SHARED / "weights" / "rfdn_x4.pth", weights_only=True)
    np.testing.assert_array_equal(
        np.asarray(params["fea_conv"]["kernel"]),
        sd["fea_conv.weight"].numpy().transpose(2, 3, 1, 0),
    )


@needs_shared
def test_cli_wrong_model_is_one_line_error(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "jaxsr.convert",
        "--model=imdn",
        "--scale=4",
        f"--torch={SHARED / 'weights' / 'rfdn_x4.pth'}",
        f"--out={tmp_path / 'x'}",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "missing keys" in last and "unexpected keys" in last
    assert not (tmp_path / "x").exists()
