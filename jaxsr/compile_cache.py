"""JAX's persistent compilation cache for jaxsr's command-line tools.

`evaluate` and `upscale` compile the model once per input shape; a set of images of many sizes
pays a compile per size on every run (BENCHMARKS.md, "Compilation"), and `train` compiles its
step again on every resume. With the cache, a later run loads those executables from disk
instead: the same XLA programs, so the outputs are bit-identical (tests/test_compile_cache.py;
the kill-and-resume tests compare resumed training bit for bit).

Where: `$JAXSR_COMPILE_CACHE` if set (`0`, `off` or empty-but-set disables it), else
`~/.cache/jaxsr/xla/<fingerprint>` where the fingerprint hashes the jax and jaxlib versions,
the machine type, the CPU's feature flags and model, and `XLA_FLAGS`: an executable compiled
for one CPU is never offered to another one sharing the home directory (a mismatched XLA:CPU
executable can crash, see jax-ml/jax#38445 for a host where the loader rejects them all; and
one tuned for another CPU model gives that model's float results, not this one's). Every
compile is cached (no minimum compile time or size), up to 2 GiB (least recently used
entries are evicted beyond), or `$JAXSR_COMPILE_CACHE_MAX_BYTES` (`-1`: unbounded, which also
skips JAX's per-write scan of every entry and its file lock: the test suite's setting, for a
directory that lives one session). `$JAXSR_COMPILE_CACHE_MIN_SECS` skips writing compiles
faster than that (default 0; the test workers use 0.3 s in-process, where thousands of
one-op programs cost more to serialise than to compile).

A hit in JAX's cache still traces and lowers the model per shape; `evaluate` and `upscale`
therefore also keep their model executables in `jaxsr.exec_cache` (in the directory
`enable()` returned), which loads them without tracing.
"""

from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path

ENV = "JAXSR_COMPILE_CACHE"
MAX_ENV = "JAXSR_COMPILE_CACHE_MAX_BYTES"
MAX_BYTES = 2 << 30
MIN_SECS_ENV = "JAXSR_COMPILE_CACHE_MIN_SECS"
_ENABLED: Path | None = None


def cpu_fields(cpuinfo: str) -> dict[str, str]:
    """`key: value` lines of the first processor's block of `/proc/cpuinfo` text."""
    found: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip() and found:
            break  # the end of the first processor's block
        key, _, value = line.partition(":")
        found.setdefault(key.strip(), value.strip())
    return found


def cpu_id(cpuinfo: str) -> str:
    """The first CPU's feature flags, vendor, family, model and stepping from `/proc/cpuinfo`
    text: XLA:CPU tunes code for the CPU model, so two models with the same flags can give
    float results that differ in the last bits (RESULTS.md, "Demos")."""
    keys = ("flags", "Features", "vendor_id", "cpu family", "model", "stepping", "CPU part")
    found = cpu_fields(cpuinfo)
    words = {k: found[k].split() for k in keys if k in found}
    return "; ".join(
        f"{k}={' '.join(sorted(w) if k in ('flags', 'Features') else w)}" for k, w in words.items()
    )


def _cpu() -> str:
    try:
        return cpu_id(Path("/proc/cpuinfo").read_text()) or platform.processor()
    except OSError:
        return platform.processor()


def fingerprint() -> str:
    import jax
    import jaxlib

    parts = [
        jax.__version__,
        getattr(jaxlib, "__version__", "?"),
        platform.machine(),
        _cpu(),
        os.environ.get("XLA_FLAGS", ""),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def cache_dir() -> Path | None:
    """The directory the tools use, None when disabled."""
    value = os.environ.get(ENV)
    if value is not None:
        return None if value.strip().lower() in ("", "0", "off", "false") else Path(value)
    return Path.home() / ".cache" / "jaxsr" / "xla" / fingerprint()


def enable() -> Path | None:
    """Turn the cache on for this process (before its first compile); returns its directory."""
    import jax

    path = cache_dir()
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # an unwritable home: run without the cache
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_secs())
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    jax.config.update("jax_compilation_cache_max_size", max_bytes())  # LRU eviction beyond
    global _ENABLED
    _ENABLED = path
    return path


def max_bytes() -> int:
    """The cache's size cap: `$JAXSR_COMPILE_CACHE_MAX_BYTES` (an integer, -1 = unbounded),
    else `MAX_BYTES`."""
    value = os.environ.get(MAX_ENV, "").strip()
    if not value:
        return MAX_BYTES
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < -1 or n == 0:
        raise ValueError(f"{MAX_ENV}={value!r}: want a size in bytes, or -1 for no limit")
    return n


def min_secs() -> float:
    """Compiles faster than this are not written: `$JAXSR_COMPILE_CACHE_MIN_SECS`, else 0."""
    value = os.environ.get(MIN_SECS_ENV, "").strip()
    try:
        secs = float(value) if value else 0.0
    except ValueError:
        secs = -1.0
    if not secs >= 0:
        raise ValueError(f"{MIN_SECS_ENV}={value!r}: want a number of seconds >= 0")
    return secs


def enabled_dir() -> Path | None:
    """The directory `enable()` turned on in this process, else None (`jaxsr.exec_cache`
    stores its executables there too)."""
    return _ENABLED
