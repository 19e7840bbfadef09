"""Image reading: 16-bit scaling (MATLAB im2uint8), alpha, palettes, gray/colour pairs."""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from PIL import Image

from jaxsr import metrics
from jaxsr.data import tfds_builders
from jaxsr.data.benchmark import load_set
from jaxsr.data.images import read_image, read_rgb, to_uint8_16
from jaxsr.data.imresize import upscale

from .conftest import needs_shared

# ---------------------------------------------------------------- 16-bit file writers
# Pillow cannot write 16-bit colour files, so these are written by hand: every PNG filter type
# (chosen at random per row) and Adam7 interlacing, to check the decoder end to end.

_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2))
_ADAM7 += ((0, 1, 1, 2),)
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _filtered(rows: np.ndarray, bpp: int, rng: np.random.Generator) -> bytes:
    out, prev = [], np.zeros(rows.shape[1], np.int64)
    for row in rows.astype(np.int64):
        a = np.concatenate([np.zeros(bpp, np.int64), row[:-bpp]])
        c = np.concatenate([np.zeros(bpp, np.int64), prev[:-bpp]])
        kind = int(rng.integers(0, 5))
        pred = (0, a, prev, (a + prev) // 2, _paeth(a, prev, c))[kind]
        out.append(bytes([kind]) + ((row - pred) % 256).astype(np.uint8).tobytes())
        prev = row
    return b"".join(out)


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def write_png16(
    path: Path, v: np.ndarray, color_type: int, *, interlace: bool = False, seed: int = 0
) -> Path:
    """A 16-bit PNG of `v` (uint16, HxW or HxWxC) with random filters, optionally interlaced."""
    c = _PNG_CHANNELS[color_type]
    h, w = v.shape[:2]
    px = np.asarray(v, ">u2").reshape(h, w, c)
    rng = np.random.default_rng(seed)
    data = b""
    for x0, y0, dx, dy in _ADAM7 if interlace else ((0, 0, 1, 1),):
        sub = np.ascontiguousarray(px[y0::dy, x0::dx])
        if sub.size:
            data += _filtered(sub.reshape(sub.shape[0], -1).view(np.uint8), 2 * c, rng)
    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, int(interlace))
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(data))
        + _chunk(b"IEND", b"")
    )
    return path


def write_tiff16(path: Path, v: np.ndarray, *, big_endian: bool, deflate: bool) -> Path:
    """A one-strip 16-bit RGB or RGBA TIFF (deflate makes Pillow decode it with libtiff)."""
    e = ">" if big_endian else "<"
    h, w, c = v.shape
    data = np.asarray(v, e + "u2").tobytes()
    if deflate:
        data = zlib.compress(data)
    tags = [(256, [w]), (257, [h]), (258, [16] * c), (259, [8 if deflate else 1]), (262, [2])]
    tags += [(273, [0]), (277, [c]), (278, [h]), (279, [len(data)])]
    tags += [(338, [2])] if c == 4 else []
    extra_at = 8 + 2 + 12 * len(tags) + 4
    bits = struct.pack(e + "H" * c, *[16] * c)
    entries = b""
    for tag, vals in tags:
        if tag == 258:
            entries += struct.pack(e + "HHII", tag, 3, c, extra_at)
        elif tag in (273, 279):
            val = extra_at + len(bits) if tag == 273 else vals[0]
            entries += struct.pack(e + "HHII", tag, 4, 1, val)
        else:
            entries += struct.pack(e + "HHIHH", tag, 3, 1, vals[0], 0)
    head = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8)
    ifd = struct.pack(e + "H", len(tags)) + entries + struct.pack(e + "I", 0)
    path.write_bytes(head + ifd + bits + data)
    return path


def expected8(v: np.ndarray) -> np.ndarray:
    """MATLAB im2uint8 of uint16, in float64 (exact here: v/257 is never a tie)."""
    return np.round(np.asarray(v, np.float64) * 255 / 65535).astype(np.uint8)


def _rgb(a: np.ndarray) -> np.ndarray:
    return np.repeat(a[..., None], 3, -1) if a.ndim == 2 else a


# ---------------------------------------------------------------- 16-bit


def test_mapping_is_matlab_im2uint8_for_every_value():
    v = np.arange(65536)
    np.testing.assert_array_equal(to_uint8_16(v), expected8(v))
    hand = {0: 0, 128: 0, 129: 1, 257: 1, 385: 1, 386: 2, 32768: 128, 65278: 254, 65535: 255}
    assert to_uint8_16(np.array(list(hand))).tolist() == list(hand.values())


def test_16bit_gray_png_hand_values(tmp_path):
    v = np.array([[0, 128, 129, 257], [385, 386, 32768, 65535]], np.uint16)
    Image.fromarray(v).save(tmp_path / "g.png")  # Pillow writes I;16 as a 16-bit gray PNG
    with Image.open(tmp_path / "g.png") as im:
        assert im.mode == "I;16"
    img, gray = read_image(tmp_path / "g.png")
    assert gray and img.shape == (2, 4, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img[..., 0], [[0, 0, 1, 1], [1, 2, 128, 255]])
    assert np.all(img[..., 0] == img[..., 2])


@pytest.mark.parametrize("interlace", [False, True])
def test_16bit_rgb_png_exact_where_pillow_keeps_only_the_high_byte(tmp_path, interlace):
    v = np.array(
        [[[0, 257, 32768], [65535, 128, 129]], [[385, 386, 511], [65278, 1, 65534]]], np.uint16
    )
    p = write_png16(tmp_path / "c.png", v, 2, interlace=interlace)
    with Image.open(p) as im:  # what Pillow alone gives: the high byte, 511 -> 1 (not 2)
        assert im.mode == "RGB" and np.array_equal(np.asarray(im), v >> 8)
    img, gray = read_image(p)
    assert not gray
    np.testing.assert_array_equal(img, [[[0, 1, 128], [255, 0, 1]], [[1, 2, 2], [254, 0, 255]]])


@settings(max_examples=60, deadline=None)
@given(
    v=arrays(np.uint16, array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12)),
    color=st.booleans(),
    interlace=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_16bit_png_reads_as_round_v_255_65535(tmp_path_factory, v, color, interlace, seed):
    if color:  # three different channels from the same draw
        v = np.stack([v, v[::-1], 65535 - v], axis=-1)
    p = tmp_path_factory.mktemp("h") / "x.png"
    write_png16(p, v, 2 if color else 0, interlace=interlace, seed=seed)
    img, gray = read_image(p)
    want = _rgb(expected8(v))
    np.testing.assert_array_equal(img, want)
    assert gray == bool(np.all(want == want[..., :1]))


def test_16bit_alpha_is_dropped_with_a_warning(tmp_path):
    rng = np.random.default_rng(0)
    v = rng.integers(0, 65536, (5, 6, 4), dtype=np.uint16)
    p = write_png16(tmp_path / "rgba.png", v, 6, seed=1)
    with pytest.warns(UserWarning, match=r"rgba\.png: 16-bit alpha channel \(RGBA\) dropped"):
        img, gray = read_image(p)
    np.testing.assert_array_equal(img, expected8(v[..., :3]))
    p = write_png16(tmp_path / "la.png", v[..., :2], 4, interlace=True)
    with pytest.warns(UserWarning, match=r"la\.png: 16-bit alpha channel \(gray\+alpha\) dropped"):
        img, gray = read_image(p)
    assert gray
    np.testing.assert_array_equal(img, _rgb(expected8(v[..., 0])))


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("deflate", [False, True])
@pytest.mark.parametrize("channels", [3, 4])
def test_16bit_tiff(tmp_path, big_endian, deflate, channels):
    v = np.random.default_rng(channels).integers(0, 65536, (7, 9, channels), dtype=np.uint16)
    p = write_tiff16(tmp_path / "t.tif", v, big_endian=big_endian, deflate=deflate)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img, _ = read_image(p)
    np.testing.assert_array_equal(img, expected8(v[..., :3]))
    assert [str(w.message) for w in caught] == (
        [f"{p}: 16-bit alpha channel (RGBA) dropped"] if channels == 4 else []
    )
    Image.fromarray(v[..., 0]).save(tmp_path / "g.tif")  # Pillow writes 16-bit gray TIFF
    img, gray = read_image(tmp_path / "g.tif")
    assert gray
    np.testing.assert_array_equal(img, _rgb(expected8(v[..., 0])))


def test_16bit_pgm_and_ppm(tmp_path):
    v = np.random.default_rng(3).integers(0, 65536, (4, 5, 3), dtype=np.uint16)
    (tmp_path / "g.ppm").write_bytes(b"P5\n5 4\n65535\n" + v[..., 0].astype(">u2").tobytes())
    (tmp_path / "c.ppm").write_bytes(b"P6\n5 4\n65535\n" + v.astype(">u2").tobytes())
    np.testing.assert_array_equal(read_rgb(tmp_path / "g.ppm"), _rgb(expected8(v[..., 0])))
    np.testing.assert_array_equal(read_rgb(tmp_path / "c.ppm"), expected8(v))


# ---------------------------------------------------------------- 8-bit, alpha, palettes


def _old_read_rgb(path):
    """read_rgb before 16-bit/alpha handling, for the 8-bit no-change check."""
    with Image.open(path) as im:
        im.load()
        if im.mode in ("L", "I;16", "I", "1", "P", "LA"):
            im = im.convert("L") if im.mode != "P" else im.convert("RGB")
        arr = np.asarray(im.convert("RGB") if im.mode not in ("L", "RGB") else im)
    return np.repeat(arr[..., None], 3, -1) if arr.ndim == 2 else arr


@pytest.mark.parametrize(
    ("mode", "suffix"),
    [
        ("RGB", ".png"),
        ("L", ".png"),
        ("P", ".png"),
        ("1", ".png"),
        ("RGB", ".bmp"),
        ("L", ".bmp"),
        ("RGB", ".jpg"),
        ("L", ".jpg"),
        ("CMYK", ".jpg"),
        ("RGB", ".tif"),
        ("RGB", ".ppm"),
    ],
)
def test_8bit_files_read_as_before(tmp_path, mode, suffix):
    rgb = np.random.default_rng(0).integers(0, 256, (13, 17, 3), dtype=np.uint8)
    im = Image.fromarray(rgb)
    im = im.quantize(64) if mode == "P" else im.convert(mode)
    p = tmp_path / f"x{suffix}"
    im.save(p)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no alpha warning for files without alpha
        img, gray = read_image(p)
    np.testing.assert_array_equal(img, _old_read_rgb(p))
    assert img.dtype == np.uint8 and img.flags.c_contiguous
    assert gray == (mode in ("L", "1"))


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_8bit_alpha_is_dropped_with_a_warning(tmp_path, mode):
    rgba = np.random.default_rng(1).integers(0, 256, (6, 7, 4), dtype=np.uint8)
    im = Image.fromarray(rgba).convert(mode)
    p = tmp_path / f"{mode}.png"
    im.save(p)
    with pytest.warns(UserWarning, match=rf"{mode}\.png: alpha channel \({mode}\) dropped"):
        img, gray = read_image(p)
    assert img.shape == (6, 7, 3) and gray == (mode == "LA")
    np.testing.assert_array_equal(img, np.asarray(im.convert("RGBA"))[..., :3])


def test_palette_with_and_without_transparency(tmp_path):
    idx = np.random.default_rng(2).integers(0, 4, (5, 6), dtype=np.uint8)
    pal = [10, 20, 30, 200, 100, 0, 7, 7, 7, 255, 255, 255]
    im = Image.fromarray(idx, "P")
    im.putpalette(pal)
    im.save(tmp_path / "p.png")
    want = np.array(pal, np.uint8).reshape(4, 3)[idx]
    img, gray = read_image(tmp_path / "p.png")
    np.testing.assert_array_equal(img, want)
    assert not gray
    im.save(tmp_path / "pt.png", transparency=2)
    with pytest.warns(UserWarning, match=r"pt\.png: transparency dropped"):
        img, _ = read_image(tmp_path / "pt.png")
    np.testing.assert_array_equal(img, want)
    gray_im = Image.fromarray(idx, "P")
    gray_im.putpalette([0, 0, 0, 80, 80, 80, 160, 160, 160, 240, 240, 240])
    gray_im.save(tmp_path / "pg.png")
    assert read_image(tmp_path / "pg.png")[1]  # a gray palette counts as grayscale


def test_rgb_with_equal_channels_counts_as_gray(tmp_path):
    g = np.random.default_rng(4).integers(0, 256, (5, 5), dtype=np.uint8)
    Image.fromarray(np.stack([g] * 3, -1)).save(tmp_path / "g.png")
    c = np.stack([g, g, g ^ 1], -1)
    Image.fromarray(c).save(tmp_path / "c.png")
    assert read_image(tmp_path / "g.png")[1] and not read_image(tmp_path / "c.png")[1]


def test_errors_are_one_line_naming_the_file(tmp_path):
    v = np.random.default_rng(5).integers(0, 65536, (40, 40, 3), dtype=np.uint16)
    raw = write_png16(tmp_path / "t.png", v, 2).read_bytes()
    (tmp_path / "t.png").write_bytes(raw[: len(raw) // 2])
    Image.fromarray(np.ones((3, 3), np.float32)).save(tmp_path / "f.tif")
    Image.fromarray(np.full((3, 3), 70000, np.int32)).save(tmp_path / "i.tif")
    for name, msg in (
        ("t.png", "unreadable image"),
        ("f.tif", "floating-point images are not supported"),
        ("i.tif", "32-bit integer samples outside 0..65535"),
    ):
        with pytest.raises(ValueError, match=rf"{name}: {msg}") as e:
            read_image(tmp_path / name)
        assert "\n" not in str(e.value) and str(tmp_path / name) in str(e.value)
    with pytest.raises(FileNotFoundError, match=r"nope\.png: no such file"):
        read_image(tmp_path / "nope.png")


# ---------------------------------------------------------------- gray/colour HR-LR pairs


def _pair_layout(root: Path, hr: np.ndarray, lr: np.ndarray) -> tuple[Path, Path]:
    hr_p, lr_p = root / "S" / "HR" / "a.png", root / "S" / "LR_bicubic" / "X2" / "ax2.png"
    for p, a in ((hr_p, hr), (lr_p, lr)):
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).save(p)
    return hr_p, lr_p


_G_HR = np.random.default_rng(6).integers(0, 256, (12, 14), dtype=np.uint8)
_G_LR = _G_HR[::2, ::2]
_C_LR = np.stack([_G_LR, _G_LR, 255 - _G_LR], -1)


@pytest.mark.parametrize(
    ("hr", "lr", "error"),
    [
        (_G_HR, _C_LR, r"a\.png: HR is grayscale but its LR \S*ax2\.png is colour"),
        (np.stack([_G_HR, _G_HR, 255 - _G_HR], -1), _G_LR, r"HR is colour .* is grayscale"),
        (_G_HR, np.stack([_G_LR] * 3, -1), None),  # gray-content RGB counts as gray
        (np.stack([_G_HR] * 3, -1), _G_LR, None),
    ],
    ids=["gray-hr-colour-lr", "colour-hr-gray-lr", "gray-hr-gray-rgb-lr", "gray-rgb-hr-gray-lr"],
)
def test_gray_colour_mismatch_in_benchmark_and_builder(tmp_path, hr, lr, error):
    hr_p, lr_p = _pair_layout(tmp_path, hr, lr)
    data_dir = str(tmp_path / "tfds")
    splits = {"train": [(str(hr_p.parent), str(lr_p.parent))]}
    if error is None:
        (p,) = load_set(tmp_path, "S", 2).pairs
        assert np.all(p.hr[..., 0] == p.hr[..., 2]) and np.all(p.lr[..., 0] == p.lr[..., 2])
        b = tfds_builders.prepare("sr_folder", data_dir, splits=splits, scale=2)
        assert tfds_builders.load_pairs(b, "train").names == ["a"]
        return
    for load in (
        lambda: load_set(tmp_path, "S", 2),
        lambda: tfds_builders.prepare("sr_folder", data_dir, splits=splits, scale=2),
    ):
        with pytest.raises(ValueError, match=error) as e:
            load()
        assert str(hr_p) in str(e.value) and str(lr_p) in str(e.value)
        assert "\n" not in str(e.value)
    assert not list((tmp_path / "tfds").rglob("*.array_record*"))


# ---------------------------------------------------------------- published data


@needs_shared
def test_published_sets_read_as_before_and_pass_the_gray_check(shared):
    """Set14 bridge is gray (L) in HR and LR, man is RGB with equal channels in both; no
    published pair mixes grayscale and colour."""
    bench = shared / "data" / "benchmark"
    files = sorted(bench.glob("*/**/*.png"))
    assert len(files) == 4 * (5 + 14 + 100)
    for p in files:
        img, gray = read_image(p)
        np.testing.assert_array_equal(img, _old_read_rgb(p), err_msg=str(p))
        assert gray == (p.stem.startswith(("bridge", "man"))), p
    for set_name in ("Set5", "Set14", "B100"):
        for scale in (2, 3, 4):
            assert load_set(bench, set_name, scale).lr_source == "files"


@needs_shared
def test_set5_saved_as_16bit_gray_gives_the_8bit_pairs(shared, tmp_path):
    src = shared / "data" / "benchmark" / "Set5"
    for sub in ("HR", "LR_bicubic/X4"):
        for p in sorted((src / sub).glob("*.png")):
            with Image.open(p) as im:
                g = np.asarray(im.convert("L"))
            for depth, arr in (("8", g), ("16", g.astype(np.uint16) * 257)):
                out = tmp_path / depth / "Set5" / sub / p.name
                out.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(arr).save(out)
    with Image.open(tmp_path / "16" / "Set5" / "HR" / "baby.png") as im:
        assert im.mode == "I;16"
    s8, s16 = load_set(tmp_path / "8", "Set5", 4), load_set(tmp_path / "16", "Set5", 4)
    assert [p.name for p in s16.pairs] == [p.name for p in s8.pairs] and len(s8.pairs) == 5
    for a, b in zip(s8.pairs, s16.pairs, strict=True):
        np.testing.assert_array_equal(a.hr, b.hr)
        np.testing.assert_array_equal(a.lr, b.lr)
    # bicubic x4 on the 16-bit set scores what it scores on 8-bit gray (clipping made every
    # pixel 255)
    y = [metrics.psnr(upscale(p.lr, 4), p.hr, 4, y=True) for p in s16.pairs]
    assert float(np.mean(y)) == pytest.approx(28.424, abs=0.001)
