#!/usr/bin/env bash
# Multi-process training through JAX's distributed runtime (--config.distributed=True), the
# code path of every multi-host run. WORKDIR must be storage that all processes share.
#
# One process per host: run the same command on every host, with PROCESS_ID 0..N-1
# (COORDINATOR is host 0's address and a free port on it):
#   COORDINATOR=host0:12355 NUM_PROCESSES=4 PROCESS_ID=$i launch/multihost.sh CONFIG WORKDIR [flags]
# Without COORDINATOR/NUM_PROCESSES/PROCESS_ID, JAX detects them (Cloud TPU, SLURM, Open MPI).
#
# N processes on this machine (CPU; each process has one CPU device):
#   LOCAL_PROCESSES=2 launch/multihost.sh CONFIG WORKDIR [flags]
# Process 0 writes to stdout, process i to WORKDIR/logs/process_<i>.log. The coordinator port
# is $PORT or a free one. When one process fails or is killed, the others are stopped and the
# script exits with that process's status; rerunning the same command resumes the run.
# $PYTHON (default: python) is the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:?usage: launch/multihost.sh CONFIG WORKDIR [flags]}
workdir=${2:?usage: launch/multihost.sh CONFIG WORKDIR [flags]}
shift 2
cmd=("${PYTHON:-python}" -m jaxsr.train --config="$config" --workdir="$workdir" --config.distributed=True "$@")

if [[ -z "${LOCAL_PROCESSES:-}" ]]; then
  if [[ -n "${COORDINATOR:-}" ]]; then export JAX_COORDINATOR_ADDRESS=$COORDINATOR; fi
  if [[ -n "${NUM_PROCESSES:-}" ]]; then export JAX_NUM_PROCESSES=$NUM_PROCESSES; fi
  if [[ -n "${PROCESS_ID:-}" ]]; then export JAX_PROCESS_ID=$PROCESS_ID; fi
  exec "${cmd[@]}"
fi

n=$LOCAL_PROCESSES
port=${PORT:-$("${PYTHON:-python}" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
export JAX_PLATFORMS=${JAX_PLATFORMS:-cpu}
set -m  # background processes get SIGINT (not ignored) in process groups of their own
mkdir -p "$workdir/logs"
pids=()

alive() {
  local p
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done
  return 1
}
stop_all() {  # stop_all SIGNAL GRACE_S: send SIGNAL, SIGKILL what is left after GRACE_S
  kill "-$1" "${pids[@]}" 2>/dev/null || true
  local deadline=$((SECONDS + $2))
  while alive && ((SECONDS < deadline)); do sleep 0.1; done
  kill -KILL "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true  # no "Killed" job notices
}
# Ctrl-C / TERM: pass SIGINT on (each process saves the agreed step and exits 130), wait 30 s
trap 'stop_all INT 30; exit 130' INT TERM

for ((i = 0; i < n; i++)); do
  export JAX_COORDINATOR_ADDRESS=127.0.0.1:$port JAX_NUM_PROCESSES=$n JAX_PROCESS_ID=$i
  if ((i == 0)); then
    "${cmd[@]}" &
  else
    "${cmd[@]}" >"$workdir/logs/process_$i.log" 2>&1 &
  fi
  pids+=($!)
done

running=("${pids[@]}")
while ((${#running[@]})); do
  rc=0
  wait -n -p finished "${running[@]}" || rc=$?
  if ((rc != 0)); then
    if ((rc == 2)); then
      # bad input (config, flags, workdir): every process refuses the same way and has said
      # so in one line (process 0 here, the others in their logs); let them exit, then go
      deadline=$((SECONDS + 20))
      while alive && ((SECONDS < deadline)); do sleep 0.1; done
      stop_all KILL 0
      exit 2
    fi
    echo "launch/multihost.sh: process pid ${finished:-?} exited with status $rc;" \
      "stopping the other processes" >&2
    if ((rc == 130)); then
      # it stopped cleanly on a signal: the others agreed on the same step and are saving it;
      # wait for them (no second signal: that would abort their save), kill after 60 s
      deadline=$((SECONDS + 60))
      while alive && ((SECONDS < deadline)); do sleep 0.1; done
      kill -KILL "${pids[@]}" 2>/dev/null || true
      wait 2>/dev/null || true
    else
      stop_all KILL 0  # the others cannot go on without it
    fi
    exit "$rc"
  fi
  rest=()
  for p in "${running[@]}"; do [[ $p == "$finished" ]] || rest+=("$p"); done
  running=("${rest[@]}")
done
