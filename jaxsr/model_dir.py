"""Model checkpoints on disk: an Orbax params tree plus a small JSON model description.

Layout of a model directory written by `save_model`:

    DIR/jaxsr_model.json   {"model": "rfdn", "scale": 4, "overrides": {...}, "source": ...}
    DIR/params/            Orbax StandardCheckpointer tree of the Flax params
    DIR/masks.npz          optional: the pruning masks (bool, '/'-joined param paths)

The params are plain: pruned weights are stored as exact zeros, so a model directory loads
and evaluates without the method that made it; the masks are there for inspection and for
`jaxsr.complexity` (`load_masks`).

The directory is written under a temporary name (`.DIR.tmp-*`) and renamed when complete,
so an interrupted save never leaves something that `load_model` accepts; `remove_stale_tmp`
deletes such leftovers (the trainer calls it on start). Directories get the user's normal
permissions (umask), not `mkdtemp`'s 0700. `load_model` refuses params with NaN/Inf.

Saving and loading are local to the calling process (Orbax restricted to it, no cross-process
barriers), so in a multi-process run one process can write a model directory while the others
go on: `save_model` fetches arrays that span other processes' devices (replicated params) to
host memory first. Call `save_model` for a given directory from one process only.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxsr import models
from jaxsr.sparsity import masks as masks_lib

META_FILE = "jaxsr_model.json"
MASKS_FILE = "masks.npz"


def _local_options() -> ocp.options.MultiprocessingOptions:
    """Orbax options for I/O by this process alone (its barriers become no-ops)."""
    me = jax.process_index()
    return ocp.options.MultiprocessingOptions(primary_host=me, active_processes={me})


def _to_host(x: Any) -> Any:
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        return np.asarray(jax.device_get(x))  # replicated across processes: one local copy
    return x


def _plain(x: Any) -> Any:
    """JSON-able copy of model overrides (ConfigDicts, tuples, numpy scalars inside)."""
    if hasattr(x, "to_dict"):
        x = x.to_dict()
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    return x.item() if hasattr(x, "item") else x


def save_model(
    directory: str | os.PathLike,
    params: Any,
    model: str,
    scale: int,
    overrides: dict[str, Any] | None = None,
    source: str | None = None,
    overwrite: bool = False,
    masks: Any | None = None,
    info: dict | None = None,
) -> Path:
    """Write params + model description to `directory` atomically; returns the path."""
    out = Path(directory).absolute()
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: already exists (pass overwrite=True / --overwrite)")
    out.parent.mkdir(parents=True, exist_ok=True)
    params = jax.tree.map(_to_host, params)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        ckptr = ocp.StandardCheckpointer(multiprocessing_options=_local_options())
        ckptr.save(tmp / "params", params)
        ckptr.wait_until_finished()
        meta = {
            "model": model,
            "scale": scale,
            "overrides": _plain(overrides or {}),
            "source": source,
        }
        if info:
            meta["info"] = _plain(info)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        if masks is not None:
            masks_lib.save(tmp / MASKS_FILE, masks)
        old = None
        if out.exists():  # keep the old copy until the new one is in place
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import, before any writer thread runs


def _umask() -> int:
    return _UMASK


def remove_stale_tmp(parent: str | os.PathLike) -> list[Path]:
    """Delete `.NAME.tmp-*` directories left in `parent` by interrupted `save_model` calls
    (and restore `NAME` from `.NAME.old-*` if a kill fell between an overwrite's renames)."""
    parent = Path(parent)
    if not parent.is_dir():
        return []
    for old in parent.glob(".*.old-*"):  # a kill between the two renames of an overwrite
        target = parent / old.name[1:].rsplit(".old-", 1)[0]
        if not target.exists() and (old / META_FILE).is_file():
            old.rename(target)
    stale = [p for p in parent.glob(".*.tmp-*") if p.is_dir()]
    stale += [p for p in parent.glob(".*.old-*") if p.is_dir()]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return stale


def nonfinite_leaves(params: Any) -> list[str]:
    """'/'-joined paths of the float leaves of `params` that hold NaN or Inf."""
    bad = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        a = np.asarray(leaf)
        if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
            bad.append("/".join(str(getattr(k, "key", k)) for k in path))
    return bad


def check_finite(params: Any, source: str | os.PathLike) -> None:
    """ValueError (one line) if any param of `source` is NaN or Inf."""
    bad = nonfinite_leaves(params)
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise ValueError(f"{source}: params contain NaN/Inf ({', '.join(bad[:3])}{more})")


def read_meta(directory: str | os.PathLike) -> dict[str, Any]:
    path = Path(directory) / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not a jaxsr model directory (no {META_FILE})")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON ({e})") from None


def load_params(directory: str | os.PathLike, model: Any) -> Any:
    """Restore params for `model` (a Flax module) from a directory written by `save_model`."""
    path = Path(directory).absolute() / "params"
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: missing params checkpoint")
    target = models.abstract_params(model)
    try:
        ckptr = ocp.StandardCheckpointer(multiprocessing_options=_local_options())
        return ckptr.restore(path, target)
    except Exception as e:  # orbax raises many types for a tree mismatch
        raise ValueError(f"{path}: params do not match the model ({type(e).__name__}: {e})") from e


def load_model(directory: str | os.PathLike) -> tuple[Any, Any, dict[str, Any]]:
    """(module, params, meta) from a model directory."""
    meta = read_meta(directory)
    model = models.create(meta["model"], meta["scale"], **meta.get("overrides", {}))
    params = load_params(directory, model)
    check_finite(params, directory)
    return model, jax.device_put(params), meta


def load_masks(directory: str | os.PathLike) -> dict | None:
    """The masks saved with a model (nested dict of bool arrays), None if it has none."""
    path = Path(directory) / MASKS_FILE
    return masks_lib.load(path) if path.is_file() else None
