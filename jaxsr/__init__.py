"""jaxsr: train, prune and evaluate image super-resolution networks in JAX/Flax."""

from jaxsr import xla_cpu as _xla_cpu

_xla_cpu.configure()  # before any JAX backend starts; see jaxsr/xla_cpu.py
