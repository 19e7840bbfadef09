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
mismatched images (size, or grayscale against colour) fail the build with an error naming the
file; the incomplete directory that TFDS wrote is then removed.

Builds are keyed by their content. The config name is `x<scale>_<hash>` of the builder's
options (resolved folder paths, scale, splits or sets), `FORMAT_VERSION` and a fingerprint of
every source image file (path relative to the source folders, size, mtime in ns). Editing,
adding, removing or corrupting a file therefore gives a new name and a new build; an
unchanged source reuses its build without reading any image. Per source (folder paths +
options) a manifest `<data_dir>/<builder>/_manifests/<key>.json` records the files of the last
successful build, so a rebuild says on stderr why (`sr_folder: rebuilding (train: 1 changed:
baby.png; 0 added; 0 removed) -> x2_...`), and the superseded build directory is removed
once the new one is complete. Contents are not hashed (hashing DIV2K's ~4 GB would cost
seconds on every start): an edit that keeps both the size and the mtime (`touch -r`,
`cp -p` of another same-sized file) is not seen.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image

from jaxsr.data.benchmark import load_set, lr_folder
from jaxsr.data.images import list_images, mod_crop, read_image, read_lr
from jaxsr.data.imresize import downscale

# Bump whenever the example encoding or how source images are decoded changes, so that
# existing builds are rebuilt. 2: content-keyed names; 16-bit sources scaled, not clipped.
FORMAT_VERSION = 2

_BUILD_NAME = re.compile(r"x\d+_[0-9a-f]{12}")


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
    """One example; a gray/colour mismatch between HR and LR is refused (`check_gray_match`)."""
    hr_full, hr_gray = read_image(hr_path)
    hr = mod_crop(hr_full, scale)
    lr = downscale(hr, scale) if lr_path is None else read_lr(lr_path, scale, hr_path, hr, hr_gray)
    return {"hr": _png(hr), "lr": _png(lr), "name": hr_path.stem}


class _Builder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base: TFDS locates a builder's package through `importlib.resources`, which fails for
    editable installs; the code path is simply this module's folder."""

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        return epath.Path(__file__).parent


def _hash(d: Any) -> str:
    return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


def _images_in(folder: Path, what: str) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such {what} folder")
    return list_images(folder)


def _fingerprint(listing: dict[str, list[Path]], base: Path) -> dict[str, dict[str, list[int]]]:
    """{split: {path relative to `base`: [size, mtime_ns]}}."""
    out: dict[str, dict[str, list[int]]] = {}
    for split, files in listing.items():
        entries = {}
        for p in files:
            st = p.stat()
            entries[p.relative_to(base).as_posix()] = [st.st_size, st.st_mtime_ns]
        out[split] = entries
    return out


class _FilesConfig(tfds.core.BuilderConfig):
    """A config keyed by its content: `options` (JSON), `FORMAT_VERSION` and the fingerprint
    of the files `listing` gives. `source_key` names the source regardless of its content."""

    def __init__(
        self,
        *,
        scale: int,
        options: dict[str, Any],
        listing: dict[str, list[Path]] | None,
        base: Path | None = None,
        **kw: Any,
    ) -> None:
        self.options, self.scale = options, scale
        self.source_key = _hash(options)
        if listing is None:  # the class-level placeholder, never built
            self.files: dict[str, dict[str, list[int]]] = {}
            name = "placeholder"
        else:
            self.files = _fingerprint(listing, base or Path("/"))
            name = f"x{scale}_{_hash([FORMAT_VERSION, options, self.files])}"
        super().__init__(name=name, version=tfds.core.Version("1.0.0"), **kw)


def _resolve(path: str | os.PathLike) -> str:
    return str(Path(path).expanduser().resolve())


class SrFolderConfig(_FilesConfig):
    """`splits`: {split: [(hr_dir, lr_dir or None), ...]}; the name is content-keyed."""

    def __init__(
        self, *, splits: dict[str, Sequence[tuple[str, str | None]]], scale: int, **kw: Any
    ) -> None:
        self.splits = {
            k: [(_resolve(h), None if lr is None else _resolve(lr)) for h, lr in v]
            for k, v in splits.items()
        }
        listing: dict[str, list[Path]] | None = None
        base = None
        if self.splits:
            listing = {}
            for split, dirs in self.splits.items():
                if not dirs:
                    raise ValueError(f"sr_folder: split {split!r} has no folders")
                files = []
                for hr_dir, lr_dir in dirs:
                    hr = _images_in(Path(hr_dir), "HR")
                    if not hr:
                        raise FileNotFoundError(f"{hr_dir}: no images")
                    files += hr + ([] if lr_dir is None else _images_in(Path(lr_dir), "LR"))
                listing[split] = files
            folders = [d for dirs in self.splits.values() for pair in dirs for d in pair if d]
            base = Path(os.path.commonpath(folders))
        options = {"builder": "sr_folder", "splits": self.splits, "scale": scale}
        super().__init__(scale=scale, options=options, listing=listing, base=base, **kw)


class SrFolder(_Builder):
    """Paired SR images from folders (LR optional)."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [SrFolderConfig(splits={}, scale=4)]

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


_DIV2K_SPLITS = (("train", "train", range(1, 801)), ("validation", "valid", range(801, 901)))


class Div2kConfig(_FilesConfig):
    def __init__(self, *, root: str, scale: int, **kw: Any) -> None:
        self.root = _resolve(root) if root else ""
        listing: dict[str, list[Path]] | None = None
        if root:
            listing = {}
            for split, sub, _ in _DIV2K_SPLITS:
                hr_dir = Path(self.root) / f"DIV2K_{sub}_HR"
                if not hr_dir.is_dir():
                    raise FileNotFoundError(f"{hr_dir}: missing (expected an extracted DIV2K)")
                lr_dir = Path(self.root) / f"DIV2K_{sub}_LR_bicubic" / f"X{scale}"
                listing[split] = list_images(hr_dir) + (
                    list_images(lr_dir) if lr_dir.is_dir() else []
                )
        options = {"builder": "div2k", "root": self.root, "scale": scale}
        super().__init__(
            scale=scale, options=options, listing=listing, base=Path(self.root or "/"), **kw
        )


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
        for split, sub, ids in _DIV2K_SPLITS:
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


class SrBenchmarkConfig(_FilesConfig):
    def __init__(self, *, root: str, sets: Sequence[str], scale: int, **kw: Any) -> None:
        self.root, self.sets = (_resolve(root) if root else ""), list(sets)
        listing: dict[str, list[Path]] | None = None
        if root and self.sets:
            listing = {}
            for s in self.sets:
                hr_dir = Path(self.root) / s / "HR"
                if not hr_dir.is_dir():
                    raise FileNotFoundError(f"{hr_dir}: no HR folder for set {s!r}")
                lr_dir = lr_folder(self.root, s, scale)
                listing[s.lower()] = list_images(hr_dir) + (
                    list_images(lr_dir) if lr_dir.is_dir() else []
                )
        options = {"builder": "sr_benchmark", "root": self.root, "sets": self.sets, "scale": scale}
        super().__init__(
            scale=scale, options=options, listing=listing, base=Path(self.root or "/"), **kw
        )


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


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _names(names: list[str], limit: int = 5) -> str:
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def describe_changes(old: dict[str, Any], cfg: _FilesConfig) -> str:
    """Why `cfg` differs from the build recorded in manifest `old`, e.g.
    `train: 1 changed: baby.png; 2 added: a.png, b.png; 0 removed`."""
    parts = []
    if old.get("format") != FORMAT_VERSION:
        parts.append(f"format {old.get('format')} -> {FORMAT_VERSION}")
    old_files = old.get("files", {})
    for split in sorted(set(old_files) | set(cfg.files)):
        a, b = old_files.get(split, {}), cfg.files.get(split, {})
        changed = sorted(k for k in a.keys() & b.keys() if list(a[k]) != list(b[k]))
        added, removed = sorted(b.keys() - a.keys()), sorted(a.keys() - b.keys())
        if changed or added or removed:
            counts = []
            for what, names in (("changed", changed), ("added", added), ("removed", removed)):
                counts.append(f"{len(names)} {what}" + (f": {_names(names)}" if names else ""))
            parts.append(f"{split}: " + "; ".join(counts))
    return "; ".join(parts) or "configuration changed"


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_manifest(path: Path, cfg: _FilesConfig) -> None:
    """Atomically (temporary file + rename in the same folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "config": cfg.name,
        "format": FORMAT_VERSION,
        "options": cfg.options,
        "files": cfg.files,
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prepare(kind: str, data_dir: str | None = None, **config: Any) -> tfds.core.DatasetBuilder:
    """Build (once per content) and return the builder; `config` are the builder config's
    fields. An unchanged source is not rebuilt; a changed one is rebuilt with the reason
    printed on stderr, and its superseded build is removed (see the module docstring)."""
    if kind not in BUILDERS:
        raise ValueError(f"unknown dataset builder {kind!r}; known: {sorted(BUILDERS)}")
    cls, cfg_cls = BUILDERS[kind]
    tfds.disable_progress_bar()
    cfg = cfg_cls(**config)
    if cfg.name == "placeholder":
        raise ValueError(f"{kind}: no source given (config {config})")
    builder = cls(data_dir=data_dir or default_data_dir(), config=cfg)
    builder_root = Path(str(builder.data_dir)).parents[1]  # <data_dir>/<builder name>
    manifest = builder_root / "_manifests" / f"{cfg.source_key}.json"
    old = _read_manifest(manifest)
    if not builder.is_prepared():
        if old is None:
            why = f"building {cfg.name} (first build)"
        elif old.get("config") == cfg.name:
            why = f"building {cfg.name} (the cached build is missing)"
        else:
            why = f"rebuilding ({describe_changes(old, cfg)}) -> {cfg.name}"
        _log(f"{kind}: {why}")
        config_dir = builder_root / cfg.name
        before = set(config_dir.glob("incomplete.*"))
        try:
            builder.download_and_prepare(file_format="array_record")
        except BaseException:  # leave no half-written build behind (TFDS usually cleans up)
            for inc in set(config_dir.glob("incomplete.*")) - before:
                shutil.rmtree(inc, ignore_errors=True)
            if config_dir.is_dir() and not any(config_dir.iterdir()):
                config_dir.rmdir()
            raise
    if old is None or old.get("config") != cfg.name:
        _write_manifest(manifest, cfg)
        stale = old.get("config") if old else None
        if (
            isinstance(stale, str)
            and _BUILD_NAME.fullmatch(stale)
            and (builder_root / stale).is_dir()
        ):
            shutil.rmtree(builder_root / stale, ignore_errors=True)
            _log(f"{kind}: removed superseded build {stale} ({builder_root / stale})")
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


def check_config(data: Any) -> None:
    """`config.data.train`'s builder, split and folders (before any dataset is built)."""
    t = data.train
    kind = t.get("builder")
    if kind not in BUILDERS:
        raise ValueError(f"data.train.builder={kind!r}; known: {sorted(BUILDERS)}")
    if kind == "sr_folder":
        splits = dict(t.get("splits") or {})
        split = t.get("split", "train")
        if split not in splits:
            raise ValueError(f"data.train.split={split!r} not in data.train.splits {list(splits)}")
        for name, dirs in splits.items():
            if not dirs:
                raise ValueError(f"data.train.splits.{name}: no folders")
            for pair in dirs:
                for d in pair:
                    if d is not None and not Path(d).is_dir():
                        raise FileNotFoundError(f"data.train.splits.{name}: {d}: no such folder")
    elif kind in ("div2k", "sr_benchmark"):
        root = t.get("root")
        if not root or not Path(root).is_dir():
            raise FileNotFoundError(f"data.train.root={root!r}: no such folder")
