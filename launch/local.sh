#!/usr/bin/env bash
# Train on this machine. Usage: launch/local.sh CONFIG WORKDIR [extra flags...]
#   launch/local.sh configs/dense.py:demo workdirs/demo
#   launch/local.sh configs/dense.py workdirs/dense --config.train.steps=1000
# On a CPU-only machine JAXSR_CPU_DEVICES (default: unset = 1) splits the host into that
# many XLA devices, with the batch sharded across them (see BENCHMARKS.md for the effect).
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:?config}; workdir=${2:?workdir}; shift 2
if [[ -n "${JAXSR_CPU_DEVICES:-}" ]]; then
  export XLA_FLAGS="${XLA_FLAGS:-} --xla_force_host_platform_device_count=${JAXSR_CPU_DEVICES}"
fi
exec python -m jaxsr.train --config="$config" --workdir="$workdir" "$@"
