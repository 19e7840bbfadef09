"""Benchmark folder loading: layout, generated LR, grayscale, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from jaxsr.data.benchmark import load_set
from jaxsr.data.imresize import downscale

from .conftest import needs_shared


def _write(path, arr, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode).save(path)


def _hr(seed, h=26, w=30):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_generated_lr_when_folder_missing(tmp_path):
    _write(tmp_path / "S" / "HR" / "a.png", _hr(0))
    s = load_set(tmp_path, "S", 4)
    assert s.lr_source == "generated"
    (p,) = s.pairs
    assert p.hr.shape == (24, 28, 3)  # mod-cropped
    np.testing.assert_array_equal(p.lr, downscale(p.hr, 4))


def test_grayscale_is_three_equal_channels(tmp_path):
    _write(tmp_path / "S" / "HR" / "g.png", _hr(1)[..., 0], "L")
    (p,) = load_set(tmp_path, "S", 2).pairs
    assert p.hr.shape[-1] == 3 and np.all(p.hr[..., 0] == p.hr[..., 2])


def test_missing_lr_file_is_named(tmp_path):
    _write(tmp_path / "S" / "HR" / "a.png", _hr(0))
    _write(tmp_path / "S" / "HR" / "b.png", _hr(1))
    _write(tmp_path / "S" / "LR_bicubic" / "X2" / "ax2.png", _hr(0, 13, 15))
    with pytest.raises(FileNotFoundError, match=r"bx2.png: missing LR image"):
        load_set(tmp_path, "S", 2)


def test_lr_without_hr_is_named(tmp_path):
    _write(tmp_path / "S" / "HR" / "a.png", _hr(0))
    _write(tmp_path / "S" / "LR_bicubic" / "X2" / "ax2.png", _hr(0, 13, 15))
    _write(tmp_path / "S" / "LR_bicubic" / "X2" / "zx2.png", _hr(0, 13, 15))
    with pytest.raises(FileNotFoundError, match=r"zx2.png: LR image without an HR partner"):
        load_set(tmp_path, "S", 2)


def test_size_mismatch_is_named(tmp_path):
    _write(tmp_path / "S" / "HR" / "a.png", _hr(0))
    _write(tmp_path / "S" / "LR_bicubic" / "X2" / "ax2.png", _hr(0, 12, 15))
    with pytest.raises(ValueError, match=r"ax2.png: LR size 15x12 x2 does not match"):
        load_set(tmp_path, "S", 2)


def test_unreadable_file_is_named(tmp_path):
    (tmp_path / "S" / "HR").mkdir(parents=True)
    (tmp_path / "S" / "HR" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"bad.png: unreadable image"):
        load_set(tmp_path, "S", 2)


def test_missing_set_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Nope/HR: no HR folder"):
        load_set(tmp_path, "Nope", 2)


@needs_shared
def test_shared_sets_load(shared):
    s = load_set(shared / "data" / "benchmark", "Set14", 3)
    assert s.lr_source == "files" and len(s.pairs) == 14
    bridge = next(p for p in s.pairs if p.name == "bridge")
    assert np.all(bridge.hr[..., 0] == bridge.hr[..., 1])
