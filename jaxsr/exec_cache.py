"""Executables of a model's forward pass, stored per input shape and loaded without tracing.

JAX's persistent cache (`jaxsr.compile_cache`) keys an executable by the lowered program, so a
cache hit still traces the model and lowers it for every new input shape (~100 ms for RFDN,
most of what a new run pays on a set of many image sizes; BENCHMARKS.md, "Compilation").
`ShapeCache` keys an executable instead by what determines the program without tracing it:
the model (its class and fields), the jaxsr source, the library versions, JAX's config, the
machine (`compile_cache.fingerprint`), the backend's devices, the params' shapes and dtypes and
the input's; a hit deserializes the stored executable (~25 ms). The same XLA binary runs, so
outputs are bit-identical to a fresh compile (tests/test_exec_cache.py).

A key that missed something that changes the program would run a stale executable, so the
first shape of each `ShapeCache` in a process is still traced and lowered, and its program's
digest compared with the one stored beside the executable: on a mismatch the disk cache is
off for that `ShapeCache` (a warning says so) and every shape compiles as usual. Only models
defined in the jaxsr package are keyed (their source is in the key); others always compile.
Entries live beside JAX's in the compile-cache directory, suffix `-jaxsr-exec`, least recently
used ones removed beyond `MAX_BYTES`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxsr import compile_cache

SUFFIX = "-jaxsr-exec"
MAX_BYTES = 1 << 30
_FORMAT = 1
_SOURCE_DIGEST: str | None = None


def source_digest() -> str:
    """sha256 over every .py file of the jaxsr package (path and bytes)."""
    global _SOURCE_DIGEST
    if _SOURCE_DIGEST is None:
        root = Path(__file__).resolve().parent
        h = hashlib.sha256()
        for p in sorted(root.rglob("*.py")):
            h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
        _SOURCE_DIGEST = h.hexdigest()
    return _SOURCE_DIGEST


def _environment() -> list[str]:
    import flax
    import jaxlib

    dev = jax.devices()
    config = sorted(
        (k, v)
        for k, v in jax.config.values.items()
        if isinstance(v, bool | int | float | str | type(None)) and "cache" not in k
    )
    return [
        f"format {_FORMAT}",
        f"jax {jax.__version__} jaxlib {jaxlib.__version__} flax {flax.__version__}",
        f"numpy {np.__version__}",
        f"machine {compile_cache.fingerprint()}",
        f"devices {dev[0].platform} {dev[0].device_kind} {len(dev)}",
        f"config {config!r}",
        f"source {source_digest()}",
    ]


def model_identity(model: Any) -> str | None:
    """What determines `model.apply`'s program besides shapes, or None for a model defined
    outside the jaxsr package (its source is not in the key)."""
    cls = type(model)
    if not cls.__module__.startswith("jaxsr.") or not dataclasses.is_dataclass(model):
        return None
    fields = {
        f.name: getattr(model, f.name)
        for f in dataclasses.fields(model)
        if f.name not in ("parent", "name")
    }
    return "\n".join([f"model {cls.__module__}.{cls.__qualname__} {fields!r}", *_environment()])


def _signature(tree: Any) -> str:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    avals = [
        (
            tuple(np.shape(x)),
            str(x.dtype if hasattr(x, "dtype") else np.result_type(x)),
            bool(getattr(x, "weak_type", False)),
        )
        for x in leaves
    ]
    return f"{treedef} {avals}"


def _program_digest(lowered: jax.stages.Lowered) -> str:
    return hashlib.sha256(lowered.as_text().encode()).hexdigest()


class ShapeCache:
    """`fn(params, x)` (a `jax.jit` function) with its executables cached in `directory` per
    params/input signature under `identity` (see the module docstring); `directory` or
    `identity` None: just `fn`. Arguments must live on one device (the default one)."""

    def __init__(self, fn: Any, identity: str | None, directory: Path | None) -> None:
        self._fn = fn
        self._identity = identity
        self._dir = directory if identity is not None else None
        self._verified = False
        self._compiled: dict[str, Callable[..., Any]] = {}
        self.loads = 0  # executables read from disk (for tests and benchmarks)
        self.compiles = 0

    def __call__(self, params: Any, x: jax.Array) -> jax.Array:
        if self._dir is None:
            return self._fn(params, x)  # jit's own cache (and JAX's persistent one)
        sig = _signature((params, x))
        fn = self._compiled.get(sig)
        if fn is None:
            loads = self.loads
            fn = self._compiled[sig] = self._get(sig, params, x)
            if self.loads > loads:  # read from disk: its first run is checked
                try:
                    return jax.block_until_ready(fn(params, x))
                except jax.errors.JaxRuntimeError as e:
                    path = self._path(sig)
                    warnings.warn(
                        f"jaxsr.exec_cache: {path} does not run ({str(e)[:80]}); "
                        "recompiled and replaced",
                        stacklevel=2,
                    )
                    path.unlink(missing_ok=True)
                    fn = self._compiled[sig] = self._get(sig, params, x)
        return fn(params, x)

    def cache_size(self) -> int:
        """Executables this process holds for `fn` (one per distinct signature)."""
        return self._fn._cache_size() if self._dir is None else len(self._compiled)

    def _path(self, sig: str) -> Path:
        assert self._dir is not None
        key = hashlib.sha256(f"{self._identity}\n{sig}".encode()).hexdigest()
        return self._dir / f"{key}{SUFFIX}"

    def _get(self, sig: str, params: Any, x: Any) -> Callable[..., Any]:
        path = self._path(sig)
        entry = _read(path)
        lowered = None
        if not self._verified:  # the key is checked against the traced program once
            self._verified = True
            lowered = self._fn.trace(params, x).lower()
            if entry is not None and entry["program"] != _program_digest(lowered):
                warnings.warn(
                    f"jaxsr.exec_cache: the entry {path} was compiled from another program "
                    "than this key now gives; its disk cache is off for this model",
                    stacklevel=3,
                )
                self._dir = None
                return self._fn
        if entry is not None:
            try:
                compiled = _load(entry)
                self.loads += 1
                return compiled
            except Exception:  # noqa: BLE001 - an unloadable entry is recompiled and replaced
                path.unlink(missing_ok=True)
        lowered = lowered or self._fn.trace(params, x).lower()
        compiled = _fresh_compile(lowered)
        self.compiles += 1
        _write(path, compiled, _program_digest(lowered))
        return compiled


def _fresh_compile(lowered: jax.stages.Lowered) -> Any:
    """Compile without JAX's persistent cache. An executable that JAX loaded from its cache
    serializes again without its compiled functions on XLA:CPU (jaxlib 0.10: the entry then
    fails when run, "NOT_FOUND: Function ... not found"), and JAX's cache holds our programs
    whenever only our keys changed (a jaxsr upgrade). tests/test_compile_cache.py."""
    from jax.experimental.compilation_cache import compilation_cache as cc

    was = bool(jax.config.jax_enable_compilation_cache)
    jax.config.update("jax_enable_compilation_cache", False)
    cc.reset_cache()  # JAX decides once per process whether its cache is used: ask again
    try:
        return lowered.compile()
    finally:
        jax.config.update("jax_enable_compilation_cache", was)
        cc.reset_cache()


def _read(path: Path) -> dict | None:
    try:
        with path.open("rb") as f:
            entry = pickle.load(f)
        os.utime(path)  # recently used
        return entry if isinstance(entry, dict) and entry.get("format") == _FORMAT else None
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - a torn or foreign file is a miss
        return None


def _load(entry: dict) -> Callable[..., Any]:
    from jax.experimental import serialize_executable

    by_id = {d.id: d for d in jax.devices()}
    return serialize_executable.deserialize_and_load(
        entry["payload"],
        entry["in_tree"],
        entry["out_tree"],
        execution_devices=[by_id[entry["device"]]],
    )


def _write(path: Path, compiled: Any, program: str) -> None:
    """Store atomically; never fails the caller (a full or read-only disk only costs reuse).
    Only single-device programs are stored."""
    from jax.experimental import serialize_executable

    devices = {d for s in jax.tree_util.tree_leaves(compiled.input_shardings) for d in s.device_set}
    if len(devices) != 1:
        return
    tmp = None
    try:
        payload, in_tree, out_tree = serialize_executable.serialize(compiled)
        entry = {
            "format": _FORMAT,
            "program": program,
            "payload": payload,
            "in_tree": in_tree,
            "out_tree": out_tree,
            "device": next(iter(devices)).id,
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=SUFFIX)
        with os.fdopen(fd, "wb") as f:
            pickle.dump(entry, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        tmp = None
        _evict(path.parent)
    except Exception:  # noqa: BLE001
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _evict(directory: Path, max_bytes: int = MAX_BYTES) -> None:
    files = []
    for p in directory.glob("[!.]*" + SUFFIX):
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        files.append((st.st_mtime, st.st_size, p))
    total = sum(s for _, s, _ in files)
    for _, size, p in sorted(files):
        if total <= max_bytes:
            break
        p.unlink(missing_ok=True)
        total -= size
