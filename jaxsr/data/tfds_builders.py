"""SR datasets as TensorFlow-Datasets builders that need no TensorFlow (array_record files).

Three builders, each a `tfds.core.GeneratorBasedBuilder` whose examples are
`{"hr": PNG, "lr": PNG, "name": str}` with HR mod-cropped to the scale:

- `sr_folder`: HR folders (+ optional LR folders; missing LR is made with jaxsr's MATLAB
  bicubic at build time). Splits and folders come from the config.
- `div2k`: an extracted local DIV2K (`DIV2K_train_HR/`, `DIV2K_train_LR_bicubic/X{s}/`,
  `DIV2K_valid_HR/`, ...); train = 0001-0800, validation = 0801-0900.
- `sr_benchmark`: a benchmark set in the EDSR layout (via `jaxsr.data.benchmark.load_set`).

Build with `prepare(...)` (writes under `data_dir`, default `$TFDS_DATA_DIR` or
`~/tensorflow_datasets`) and read with `load_pairs(builder, split)`. Unreadable or
mismatched images fail the build with an error naming the file; the incomplete directory that
TFDS wrote is then removed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image

from jaxsr.data.benchmark import load_set
from jaxsr.data.images import list_images, mod_crop, read_rgb
from jaxsr.data.imresize import downscale


def _png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _features() -> tfds.features.FeaturesDict:
    return tfds.features.FeaturesDict(
        {
            "hr": tfds.features.Image(shape=(None, None, 3)),
            "lr": tfds.features.Image(shape=(None, None, 3)),
            "name": tfds.features.Text(),
        }
    )


def _lr_for(hr_path: Path, lr_dir: Path | None, scale: int) -> Path | None:
    if lr_dir is None:
        return None
    for cand in (f"{hr_path.stem}x{scale}", hr_path.stem):
        for ext in (hr_path.suffix, ".png", ".bmp", ".jpg"):
            if (lr_dir / f"{cand}{ext}").is_file():
                return lr_dir / f"{cand}{ext}"
    raise FileNotFoundError(
        f"{lr_dir / (hr_path.stem + f'x{scale}.png')}: missing LR for {hr_path}"
    )


def _example(hr_path: Path, lr_path: Path | None, scale: int) -> dict[str, Any]:
    hr = mod_crop(read_rgb(hr_path), scale)
    if lr_path is None:
        lr = downscale(hr, scale)
    else:
        lr = read_rgb(lr_path)
        if lr.shape[0] * scale != hr.shape[0] or lr.shape[1] * scale != hr.shape[1]:
            raise ValueError(
                f"{lr_path}: LR size {lr.shape[1]}x{lr.shape[0]} x{scale} does not match "
                f"mod-cropped HR {hr_path} ({hr.shape[1]}x{hr.shape[0]})"
            )
    return {"hr": _png(hr), "lr": _png(lr), "name": hr_path.stem}


class _Builder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base: TFDS locates a builder's package through `importlib.resources`, which fails for
    editable installs; the code path is simply this module's folder."""

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        return epath.Path(__file__).parent


def _config_hash(d: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]


class SrFolderConfig(tfds.core.BuilderConfig):
    """`splits`: {split: [(hr_dir, lr_dir or None), ...]}; the config name hashes the content."""

    def __init__(
        self,
        *,
        splits: dict[str, Sequence[tuple[str, str | None]]],
        scale: int,
        name: str | None = None,
        **kw: Any,
    ) -> None:
        splits = {
            k: [(str(h), None if lr is None else str(lr)) for h, lr in v] for k, v in splits.items()
        }
        name = name or f"x{scale}_{_config_hash({'splits': splits, 'scale': scale})}"
        super().__init__(name=name, version=tfds.core.Version("1.0.0"), **kw)
        self.splits, self.scale = splits, scale


class SrFolder(_Builder):
    """Paired SR images from folders (LR optional)."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [SrFolderConfig(name="empty", splits={}, scale=4)]

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self, features=_features(), description="Paired HR/LR images from folders."
        )

    def _split_generators(self, dl_manager: Any) -> dict[str, Iterator]:
        cfg = self.builder_config
        return {
            split: self._generate_examples(dirs, cfg.scale) for split, dirs in cfg.splits.items()
        }

    def _generate_examples(self, dirs: list[tuple[str, str | None]], scale: int) -> Iterator:
        for hr_dir, lr_dir in dirs:
            hr_dir_p = Path(hr_dir)
            if not hr_dir_p.is_dir():
                raise FileNotFoundError(f"{hr_dir}: no such HR folder")
            files = list_images(hr_dir_p)
            if not files:
                raise FileNotFoundError(f"{hr_dir}: no images")
            for p in files:
                yield (
                    f"{hr_dir_p.name}/{p.stem}",
                    _example(p, _lr_for(p, Path(lr_dir) if lr_dir else None, scale), scale),
                )


class Div2kConfig(tfds.core.BuilderConfig):
    def __init__(self, *, root: str, scale: int, **kw: Any) -> None:
        super().__init__(
            name=f"x{scale}_{_config_hash({'root': str(root)})}",
            version=tfds.core.Version("1.0.0"),
            **kw,
        )
        self.root, self.scale = str(root), scale


class Div2k(_Builder):
    """DIV2K from an extracted local copy (bicubic track); train 0001-0800, validation 0801-0900."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [Div2kConfig(root="", scale=4)]

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self, features=_features(), description="DIV2K (bicubic), local extracted copy."
        )

    def _split_generators(self, dl_manager: Any) -> dict[str, Iterator]:
        cfg = self.builder_config
        root, s = Path(cfg.root), cfg.scale
        out = {}
        for split, sub, ids in (
            ("train", "train", range(1, 801)),
            ("validation", "valid", range(801, 901)),
        ):
            hr_dir = root / f"DIV2K_{sub}_HR"
            lr_dir = root / f"DIV2K_{sub}_LR_bicubic" / f"X{s}"
            if not hr_dir.is_dir():
                raise FileNotFoundError(f"{hr_dir}: missing (expected an extracted DIV2K)")
            out[split] = self._generate_examples(
                hr_dir, lr_dir if lr_dir.is_dir() else None, ids, s
            )
        return out

    def _generate_examples(self, hr_dir: Path, lr_dir: Path | None, ids: range, s: int) -> Iterator:
        for i in ids:
            hr = hr_dir / f"{i:04d}.png"
            if not hr.is_file():
                raise FileNotFoundError(f"{hr}: missing DIV2K image")
            yield f"{i:04d}", _example(hr, _lr_for(hr, lr_dir, s), s)


class SrBenchmarkConfig(tfds.core.BuilderConfig):
    def __init__(self, *, root: str, sets: Sequence[str], scale: int, **kw: Any) -> None:
        super().__init__(
            name=f"x{scale}_{_config_hash({'root': str(root), 'sets': list(sets)})}",
            version=tfds.core.Version("1.0.0"),
            **kw,
        )
        self.root, self.sets, self.scale = str(root), list(sets), scale


class SrBenchmark(_Builder):
    """Benchmark sets in the EDSR layout; one split per set (lower-cased name)."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [SrBenchmarkConfig(root="", sets=[], scale=4)]

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self, features=_features(), description="SR benchmark sets (EDSR layout)."
        )

    def _split_generators(self, dl_manager: Any) -> dict[str, Iterator]:
        cfg = self.builder_config
        return {s.lower(): self._generate_examples(s) for s in cfg.sets}

    def _generate_examples(self, set_name: str) -> Iterator:
        cfg = self.builder_config
        for pair in load_set(cfg.root, set_name, cfg.scale).pairs:
            yield pair.name, {"hr": _png(pair.hr), "lr": _png(pair.lr), "name": pair.name}


BUILDERS = {
    "sr_folder": (SrFolder, SrFolderConfig),
    "div2k": (Div2k, Div2kConfig),
    "sr_benchmark": (SrBenchmark, SrBenchmarkConfig),
}


def default_data_dir() -> str:
    return os.environ.get("TFDS_DATA_DIR", str(Path.home() / "tensorflow_datasets"))


def prepare(kind: str, data_dir: str | None = None, **config: Any) -> tfds.core.DatasetBuilder:
    """Build (once) and return the builder; `config` are the builder config's fields."""
    if kind not in BUILDERS:
        raise ValueError(f"unknown dataset builder {kind!r}; known: {sorted(BUILDERS)}")
    cls, cfg_cls = BUILDERS[kind]
    tfds.disable_progress_bar()
    builder = cls(data_dir=data_dir or default_data_dir(), config=cfg_cls(**config))
    try:
        builder.download_and_prepare(file_format="array_record")
    except BaseException:
        parent = Path(builder.data_dir).parent
        for inc in parent.glob("incomplete.*") if parent.is_dir() else []:
            shutil.rmtree(inc, ignore_errors=True)
        raise
    return builder


@dataclasses.dataclass(frozen=True)
class Pairs:
    """Decoded images of a split, kept in RAM (decoding a PNG per patch would be too slow)."""

    names: list[str]
    hr: list[np.ndarray]
    lr: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.names)


def load_pairs(builder: tfds.core.DatasetBuilder, split: str) -> Pairs:
    if split not in builder.info.splits:
        raise ValueError(
            f"{builder.name}/{builder.builder_config.name}: no split {split!r} "
            f"(has {sorted(builder.info.splits)})"
        )
    source = builder.as_data_source(split)
    records = [source[i] for i in range(len(source))]
    records.sort(key=lambda r: r["name"])  # array_record order is a hash order
    names = [
        r["name"].decode() if isinstance(r["name"], bytes) else str(r["name"]) for r in records
    ]
    return Pairs(
        names, [np.asarray(r["hr"]) for r in records], [np.asarray(r["lr"]) for r in records]
    )
