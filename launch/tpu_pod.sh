#!/usr/bin/env bash
# Train on a Cloud TPU VM pod slice: the same command runs on every worker, and
# jax.distributed.initialize() (config.distributed=True) discovers the others through the TPU
# metadata, so no coordinator address is needed. Run from your workstation:
#   launch/tpu_pod.sh TPU_NAME ZONE CONFIG WORKDIR [extra flags...]
# WORKDIR must be shared storage visible to all workers (e.g. gs://bucket/run): Orbax
# writes checkpoints collectively and each host reads its own shard of the data.
set -euo pipefail
tpu=${1:?tpu name}; zone=${2:?zone}; config=${3:?config}; workdir=${4:?workdir}; shift 4
repo=${JAXSR_REPO_DIR:-~/jaxsr}
gcloud compute tpus tpu-vm ssh "$tpu" --zone="$zone" --worker=all --command="
  cd $repo && python -m jaxsr.train --config=$config --workdir=$workdir \
    --config.distributed=True $*"
