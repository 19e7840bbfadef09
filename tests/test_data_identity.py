"""TFDS builds are keyed by their content: a changed source is rebuilt (and says why), an
unchanged one is reused without reading any image."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jaxsr.data import tfds_builders
from jaxsr.data.images import mod_crop
from jaxsr.data.imresize import downscale


def _img(seed: int, h: int = 26, w: int = 30) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _write(path: Path, arr: np.ndarray) -> None:
    """Write `arr`; an existing file's mtime moves forward by 1 s whatever the clock's grain."""
    old = path.stat().st_mtime_ns if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    if old is not None:
        os.utime(path, ns=(old + 10**9, old + 10**9))


@pytest.fixture
def hr(tmp_path) -> Path:
    for i, name in enumerate("abc"):
        _write(tmp_path / "hr" / f"{name}.png", _img(i))
    return tmp_path / "hr"


class _Run:
    """prepare() on one sr_folder source; `log` holds the builder's stderr lines."""

    def __init__(self, data_dir: Path, capsys, splits=None, scale: int = 2, kind="sr_folder"):
        self.data_dir, self.capsys, self.kind = data_dir, capsys, kind
        self.config = {"splits": splits, "scale": scale} if splits is not None else {}
        self.log: list[str] = []

    def __call__(self, **config):
        self.capsys.readouterr()
        try:
            return tfds_builders.prepare(self.kind, str(self.data_dir), **{**self.config, **config})
        finally:
            err = self.capsys.readouterr().err
            self.log = [x for x in err.splitlines() if x.startswith(f"{self.kind}: ")]

    def builds(self) -> list[str]:
        root = self.data_dir / self.kind
        return sorted(p.name for p in root.iterdir() if re.fullmatch(r"x\d+_\w+", p.name))


def _run(tmp_path, capsys, hr_dir, lr_dir=None, **kw) -> _Run:
    splits = {"train": [(str(hr_dir), None if lr_dir is None else str(lr_dir))]}
    return _Run(tmp_path / "tfds", capsys, splits, **kw)


def test_first_build_then_unchanged_is_a_noop(tmp_path, hr, capsys, monkeypatch):
    run = _run(tmp_path, capsys, hr)
    name = run().builder_config.name
    assert re.fullmatch(r"x2_[0-9a-f]{12}", name)
    assert run.log == [f"sr_folder: building {name} (first build)"]
    (manifest,) = (tmp_path / "tfds" / "sr_folder" / "_manifests").iterdir()
    data = json.loads(manifest.read_text())
    assert data["config"] == name and sorted(data["files"]["train"]) == ["a.png", "b.png", "c.png"]

    def no_reads(*a, **k):
        raise AssertionError("an unchanged source must not be rebuilt")

    monkeypatch.setattr(tfds_builders, "_example", no_reads)
    b = run()  # `_example` raises if any image were read again
    assert b.builder_config.name == name and run.log == [] and run.builds() == [name]
    assert tfds_builders.load_pairs(b, "train").names == ["a", "b", "c"]
    assert not list(manifest.parent.glob("*.tmp"))


def test_changed_image_is_rebuilt_and_seen(tmp_path, hr, capsys):
    run = _run(tmp_path, capsys, hr)
    old = run().builder_config.name
    new_b = _img(10)
    _write(hr / "b.png", new_b)
    b = run()
    new = b.builder_config.name
    assert new != old
    assert run.log == [
        f"sr_folder: rebuilding (train: 1 changed: b.png; 0 added; 0 removed) -> {new}",
        f"sr_folder: removed superseded build {old} ({tmp_path / 'tfds' / 'sr_folder' / old})",
    ]
    assert run.builds() == [new]
    pairs = tfds_builders.load_pairs(b, "train")
    np.testing.assert_array_equal(pairs.hr[1], mod_crop(new_b, 2))
    np.testing.assert_array_equal(pairs.lr[1], downscale(mod_crop(new_b, 2), 2))


def test_added_and_removed_images_are_seen(tmp_path, hr, capsys):
    run = _run(tmp_path, capsys, hr)
    run()
    _write(hr / "d.png", _img(4))
    _write(hr / "e.png", _img(5))
    b = run()
    assert run.log[0] == (
        f"sr_folder: rebuilding (train: 0 changed; 2 added: d.png, e.png; 0 removed) "
        f"-> {b.builder_config.name}"
    )
    assert tfds_builders.load_pairs(b, "train").names == ["a", "b", "c", "d", "e"]
    (hr / "a.png").unlink()
    b = run()
    assert "(train: 0 changed; 0 added; 1 removed: a.png)" in run.log[0]
    assert tfds_builders.load_pairs(b, "train").names == ["b", "c", "d", "e"]
    assert run.builds() == [b.builder_config.name]


def test_corrupt_image_fails_cleanly_and_keeps_the_last_good_build(tmp_path, hr, capsys):
    run = _run(tmp_path, capsys, hr)
    good = run().builder_config.name
    raw = (hr / "b.png").read_bytes()
    (hr / "b.png").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"hr/b\.png: unreadable image") as e:
        run()
    assert "\n" not in str(e.value)
    assert "1 changed: b.png" in run.log[0]
    assert run.builds() == [good]  # no half-written build
    assert not list((tmp_path / "tfds").rglob("incomplete*"))
    (manifest,) = (tmp_path / "tfds" / "sr_folder" / "_manifests").iterdir()
    assert json.loads(manifest.read_text())["config"] == good
    _write(hr / "b.png", _img(11))  # repaired: rebuilt against the last good build
    b = run()
    assert run.log[0].startswith("sr_folder: rebuilding (train: 1 changed: b.png;")
    assert run.builds() == [b.builder_config.name] != [good]


def test_lr_folder_changes_are_seen(tmp_path, hr, capsys):
    lr = tmp_path / "lr"
    for p in sorted(hr.iterdir()):
        _write(lr / f"{p.stem}x2.png", downscale(mod_crop(_img("abc".index(p.stem)), 2), 2))
    run = _run(tmp_path, capsys, hr, lr)
    run()
    new_lr = _img(12, 13, 15)
    _write(lr / "cx2.png", new_lr)
    b = run()
    assert "(train: 1 changed: lr/cx2.png; 0 added; 0 removed)" in run.log[0]
    np.testing.assert_array_equal(tfds_builders.load_pairs(b, "train").lr[2], new_lr)


def test_format_version_bump_rebuilds(tmp_path, hr, capsys, monkeypatch):
    run = _run(tmp_path, capsys, hr)
    old = run().builder_config.name
    v = tfds_builders.FORMAT_VERSION
    monkeypatch.setattr(tfds_builders, "FORMAT_VERSION", v + 1)
    new = run().builder_config.name
    assert run.log[0] == f"sr_folder: rebuilding (format {v} -> {v + 1}) -> {new}"
    assert run.builds() == [new] and new != old


def test_each_source_keeps_its_own_build(tmp_path, hr, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(hr, copy)  # same names, sizes and mtimes, another folder
    a, b = _run(tmp_path, capsys, hr), _run(tmp_path, capsys, copy)
    x4 = _run(tmp_path, capsys, hr, scale=4)
    names = [r().builder_config.name for r in (a, b, x4)]
    assert len(set(names)) == 3 and a.builds() == sorted(names)
    _write(copy / "a.png", _img(13))
    new = b().builder_config.name
    assert a.builds() == sorted([names[0], names[2], new])  # the other sources' builds stay
    assert a().builder_config.name == names[0] and a.log == []


def test_benchmark_and_div2k_builders_are_content_keyed(tmp_path, capsys):
    root = tmp_path / "bench"
    for i, name in enumerate("pq"):
        _write(root / "S" / "HR" / f"{name}.png", _img(i, 16, 20))
    run = _Run(tmp_path / "tfds", capsys, kind="sr_benchmark")
    cfg = {"root": str(root), "sets": ["S"], "scale": 4}
    old = run(**cfg).builder_config.name
    _write(root / "S" / "HR" / "q.png", _img(20, 16, 20))
    b = run(**cfg)
    assert run.log[0] == (
        f"sr_benchmark: rebuilding (s: 1 changed: S/HR/q.png; 0 added; 0 removed) "
        f"-> {b.builder_config.name}"
    )
    assert run.builds() == [b.builder_config.name] != [old]
    np.testing.assert_array_equal(tfds_builders.load_pairs(b, "s").hr[1], _img(20, 16, 20))

    div2k = tmp_path / "DIV2K"
    for sub, ids in (("train", range(1, 801)), ("valid", range(801, 901))):
        for i in ids:
            _write(div2k / f"DIV2K_{sub}_HR" / f"{i:04d}.png", _img(i, 4, 4))
    run = _Run(tmp_path / "tfds", capsys, kind="div2k")
    run(root=str(div2k), scale=2)
    assert run.log[0].startswith("div2k: building x2_")
    _write(div2k / "DIV2K_valid_HR" / "0850.png", _img(0, 4, 4))
    b = run(root=str(div2k), scale=2)
    assert "(validation: 1 changed: DIV2K_valid_HR/0850.png; 0 added; 0 removed)" in run.log[0]
    val = tfds_builders.load_pairs(b, "validation")
    np.testing.assert_array_equal(val.hr[val.names.index("0850")], _img(0, 4, 4))


def test_a_source_is_required(tmp_path):
    with pytest.raises(ValueError, match="sr_folder: no source given"):
        tfds_builders.prepare("sr_folder", str(tmp_path), splits={}, scale=2)
    with pytest.raises(ValueError, match="sr_folder: split 'train' has no folders"):
        tfds_builders.prepare("sr_folder", str(tmp_path), splits={"train": []}, scale=2)
    with pytest.raises(FileNotFoundError, match=r"nope: no such HR folder"):
        tfds_builders.prepare(
            "sr_folder", str(tmp_path), splits={"train": [("nope", None)]}, scale=2
        )
