"""grain pipeline and TFDS builders (TensorFlow-free)."""

from __future__ import annotations

import grain
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from jaxsr.configs_lib import SAMPLES
from jaxsr.data import pipeline, shuffle, tfds_builders
from jaxsr.data.imresize import downscale
from jaxsr.data.tfds_builders import Pairs


def _blocky_pairs(n=3, scale=3, seed=0) -> Pairs:
    """HR = nearest-neighbour x`scale` of LR, so an aligned HR patch is exactly LR repeated."""
    rng = np.random.default_rng(seed)
    lrs = [rng.integers(0, 256, (20 + i, 24 + 2 * i, 3), dtype=np.uint8) for i in range(n)]
    hrs = [np.repeat(np.repeat(lr, scale, 0), scale, 1) for lr in lrs]
    return Pairs([f"im{i}" for i in range(n)], hrs, lrs)


def _grain_stream(n: int, seed: int) -> grain.MapDataset:
    return grain.MapDataset.source(np.arange(n)).shuffle(seed=seed).repeat()


@settings(max_examples=40, deadline=None)
@given(
    n=st.one_of(st.integers(1, 300), st.sampled_from([1023, 1024, 4097, 65535, 65536])),
    seed=st.one_of(st.integers(0, 2**16), st.just(2**32 - 1)),
)
def test_epoch_shuffle_is_graings_stream_element_for_element(n, seed):
    """grain's own `source(range(n)).shuffle(seed).repeat()` is the reference: every
    position of the first epochs, across the 2^32 seed wrap, and its host slices."""
    ours, ref = shuffle.shuffled_indices(n, seed), _grain_stream(n, seed)
    assert isinstance(ours, shuffle.ShuffledIndices)
    span = range(0, min(3 * n, 3000)) if n < 1024 else [*range(40), *range(n - 20, n + 20)]
    assert [int(ours[k]) for k in span] == [int(ref[k]) for k in span]
    assert [int(v) for v in ours[1::3][:12]] == [int(v) for v in ref[1::3][:12]]
    assert sorted(int(v) for v in shuffle.epoch_permutation(n, seed)) == list(range(n))


def test_epoch_shuffle_falls_back_to_grain_above_one_block():
    assert not isinstance(shuffle.shuffled_indices(65537, 3), shuffle.ShuffledIndices)
    with pytest.raises(ValueError, match="1 <= n <= 65536, got 0"):
        shuffle.ShuffledIndices(0, 1)


def test_crops_aligned_under_all_augmentations():
    ds = pipeline.train_dataset(_blocky_pairs(), hr_patch=12 * 3, scale=3, global_batch=4, seed=1)
    it = pipeline.train_iterator(ds)
    for _ in range(20):
        b = next(it)
        assert b["lr"].shape == (4, 12, 12, 3) and b["hr"].shape == (4, 36, 36, 3)
        assert b["lr"].dtype == np.uint8
        np.testing.assert_array_equal(b["hr"], np.repeat(np.repeat(b["lr"], 3, 1), 3, 2))


def test_deterministic_and_resumable():
    pairs = _blocky_pairs()
    ds = pipeline.train_dataset(pairs, 24, 3, 4, seed=7)
    a = pipeline.train_iterator(ds)
    first = [next(a) for _ in range(5)]
    state = a.get_state()
    rest = [next(a) for _ in range(5)]
    b = pipeline.train_iterator(pipeline.train_dataset(pairs, 24, 3, 4, seed=7))
    for x, y in zip(first, [next(b) for _ in range(5)], strict=True):
        np.testing.assert_array_equal(x["hr"], y["hr"])
    c = pipeline.train_iterator(pipeline.train_dataset(pairs, 24, 3, 4, seed=7))
    c.set_state(state)
    for x, y in zip(rest, [next(c) for _ in range(5)], strict=True):
        np.testing.assert_array_equal(x["hr"], y["hr"])
    d = pipeline.train_iterator(pipeline.train_dataset(pairs, 24, 3, 4, seed=8))
    assert not np.array_equal(next(d)["hr"], first[0]["hr"])


def test_per_host_shards_partition_the_stream():
    # image i is constant i, so a patch tells which image it came from
    pairs = Pairs(
        [f"im{i}" for i in range(5)],
        [np.full((8, 8, 3), i, np.uint8) for i in range(5)],
        [np.full((4, 4, 3), i, np.uint8) for i in range(5)],
    )
    full = pipeline.grain.MapDataset.source(np.arange(5)).shuffle(seed=3).repeat()
    order = [int(full[i]) for i in range(20)]
    assert sorted(order[:5]) == list(range(5))  # an epoch visits every image once
    seen = []
    for host in range(2):
        ds = pipeline.train_dataset(pairs, 8, 2, 4, seed=3, process_index=host, process_count=2)
        it = pipeline.train_iterator(ds)
        imgs = [int(p[0, 0, 0]) for _ in range(5) for p in next(it)["lr"]]
        # global batch t (4 samples) = host 0's block, then host 1's: host h takes 4t+2h, +1
        assert imgs == [order[4 * t + 2 * host + j] for t in range(5) for j in range(2)]
        seen.append(imgs)
    assert sorted(seen[0] + seen[1]) == sorted(order[:20])


def test_patch_larger_than_image_is_named():
    with pytest.raises(ValueError, match=r"image 'im0': LR 24x20 is smaller than the LR patch 30"):
        pipeline.train_dataset(_blocky_pairs(), 90, 3, 4, seed=0)


def test_sr_folder_builder_generates_lr_and_loads(tmp_path):
    b = tfds_builders.prepare(
        "sr_folder",
        str(tmp_path / "tfds"),
        splits={"train": [(str(SAMPLES / "train"), None)]},
        scale=4,
    )
    pairs = tfds_builders.load_pairs(b, "train")
    assert pairs.names == ["astronaut", "coffee", "rocket"]
    for hr, lr in zip(pairs.hr, pairs.lr, strict=True):
        assert hr.shape[0] % 4 == 0 and hr.shape[1] % 4 == 0
        np.testing.assert_array_equal(lr, downscale(hr, 4))
    assert (tmp_path / "tfds" / "sr_folder").is_dir()
    assert list((tmp_path / "tfds").rglob("*.array_record*"))


def test_sr_folder_builder_rejects_bad_images(tmp_path):
    hr = tmp_path / "hr"
    hr.mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(hr / "ok.png")
    (hr / "broken.png").write_bytes(b"nope")
    with pytest.raises(ValueError, match=r"broken.png: unreadable image"):
        tfds_builders.prepare(
            "sr_folder", str(tmp_path / "tfds"), splits={"train": [(str(hr), None)]}, scale=2
        )
    assert not list((tmp_path / "tfds").rglob("*.array_record*"))
    lr = tmp_path / "lr"
    lr.mkdir()
    (hr / "broken.png").unlink()
    Image.fromarray(np.zeros((7, 8, 3), np.uint8)).save(lr / "okx2.png")
    with pytest.raises(ValueError, match=r"okx2.png: LR size 8x7 x2 does not match"):
        tfds_builders.prepare(
            "sr_folder", str(tmp_path / "tfds2"), splits={"train": [(str(hr), str(lr))]}, scale=2
        )


def test_div2k_builder_on_a_fake_layout(tmp_path):
    root = tmp_path / "DIV2K"
    rng = np.random.default_rng(0)
    for sub, ids in (("train", range(1, 801)), ("valid", range(801, 901))):
        (root / f"DIV2K_{sub}_HR").mkdir(parents=True)
        (root / f"DIV2K_{sub}_LR_bicubic" / "X2").mkdir(parents=True)
        for i in ids:
            img = rng.integers(0, 256, (8, 10, 3), dtype=np.uint8)
            Image.fromarray(img).save(root / f"DIV2K_{sub}_HR" / f"{i:04d}.png")
            Image.fromarray(downscale(img, 2)).save(
                root / f"DIV2K_{sub}_LR_bicubic" / "X2" / f"{i:04d}x2.png"
            )
    b = tfds_builders.prepare("div2k", str(tmp_path / "tfds"), root=str(root), scale=2)
    assert b.info.splits["train"].num_examples == 800
    val = tfds_builders.load_pairs(b, "validation")
    assert val.names[0] == "0801" and len(val) == 100 and val.lr[0].shape == (4, 5, 3)


def test_benchmark_builder(tmp_path):
    b = tfds_builders.prepare(
        "sr_benchmark", str(tmp_path / "tfds"), root=str(SAMPLES), sets=["Demo"], scale=4
    )
    pairs = tfds_builders.load_pairs(b, "demo")
    assert pairs.names == ["chelsea"] and pairs.lr[0].shape == (75, 112, 3)


def test_skip_small_drops_with_warning_or_fails_when_nothing_left():
    pairs = _blocky_pairs()  # LR 20x24, 21x26, 22x28
    with pytest.warns(
        UserWarning, match=r"skipping 2 training image\(s\) smaller than the HR patch 66: im0, im1"
    ):
        ds = pipeline.train_dataset(pairs, 66, 3, 2, seed=0, skip_small=True)
    assert next(pipeline.train_iterator(ds))["lr"].shape == (2, 22, 22, 3)
    with pytest.raises(ValueError, match="no training image is large enough for the HR patch 90"):
        pipeline.train_dataset(pairs, 90, 3, 2, seed=0, skip_small=True)
