"""Multi-process runs: JAX's distributed runtime from the config or the environment.

With `config.distributed=True` the trainer calls `initialize(cfg)` before any JAX computation.
Each of coordinator address, process count and process id comes from `config.cluster` if
set there, else from the environment, else from JAX's cluster detection (Cloud TPU, SLURM,
Open MPI, Kubernetes):

    config.cluster.coordinator     JAX_COORDINATOR_ADDRESS   host:port of process 0's service
    config.cluster.num_processes   JAX_NUM_PROCESSES         (jaxsr reads it; JAX does not)
    config.cluster.process_id      JAX_PROCESS_ID            (jaxsr reads it; JAX does not)

`config.cluster.cpu_collectives` ("gloo", the default of jax 0.10, or "mpi") picks how CPU
devices of different processes exchange data; GPUs and TPUs ignore it.
`config.cluster.heartbeat_timeout_s` is how long the others wait before they give up on a
process that died (JAX's default: 100 s).

The helpers below are what the trainer needs on top of `jax.process_index()`: a barrier and
a "process 0 first" section (building a TFDS dataset on shared storage: concurrent builds of
the same dataset fail in TFDS's final rename).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import jax

ENV = {
    "coordinator": "JAX_COORDINATOR_ADDRESS",
    "num_processes": "JAX_NUM_PROCESSES",
    "process_id": "JAX_PROCESS_ID",
}


def cluster_args(cfg: Any) -> dict[str, Any]:
    """`jax.distributed.initialize` keyword arguments from `cfg.cluster` and the environment.

    A value missing from both is left out, so JAX detects it (TPU pod, SLURM, ...)."""
    cluster = cfg.get("cluster") or {}
    out: dict[str, Any] = {}
    coordinator = cluster.get("coordinator") or os.environ.get(ENV["coordinator"], "")
    if coordinator:
        out["coordinator_address"] = coordinator
    n = int(cluster.get("num_processes", 0) or 0) or int(os.environ.get(ENV["num_processes"], 0))
    if n:
        out["num_processes"] = n
    pid = int(cluster.get("process_id", -1))
    if pid < 0 and os.environ.get(ENV["process_id"], "") != "":
        pid = int(os.environ[ENV["process_id"]])
    if pid >= 0:
        out["process_id"] = pid
    if cluster.get("heartbeat_timeout_s"):
        out["heartbeat_timeout_seconds"] = int(cluster["heartbeat_timeout_s"])
    return out


def initialize(cfg: Any) -> bool:
    """Join the distributed runtime if `cfg.distributed` (once per process); returns whether
    this is a distributed run."""
    if not cfg.get("distributed", False):
        return False
    if jax.distributed.is_initialized():
        return True
    collectives = (cfg.get("cluster") or {}).get("cpu_collectives", "")
    if collectives:
        jax.config.update("jax_cpu_collectives_implementation", collectives)
    jax.distributed.initialize(**cluster_args(cfg))
    return True


def is_lead() -> bool:
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process reaches `barrier(name)` (a no-op with one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


@contextlib.contextmanager
def lead_first(name: str) -> Iterator[None]:
    """Process 0 runs the block first, the others once it is done (e.g. it fills a cache)."""
    if not is_lead():
        barrier(name)
    yield
    if is_lead():
        barrier(name)


def any_process(flag: bool) -> bool:
    """True on every process if `flag` is true on any (a tiny all-gather; collective: every
    process must call it at the same point)."""
    if jax.process_count() == 1:
        return bool(flag)
    import numpy as np
    from jax.experimental import multihost_utils

    return bool(np.max(multihost_utils.process_allgather(np.int32(bool(flag)))))
