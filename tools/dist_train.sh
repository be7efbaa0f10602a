#!/usr/bin/env bash
# Distributed training with torchrun: tools/dist_train.sh CONFIG GPUS [train.py args...]
# GPUS is the number of processes per node (on a CPU-only machine: processes, using gloo).
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT as for mmdet's script.
#
# Pre-emption: SIGTERM or SIGUSR1 to the job's process group (as Slurm sends them) reaches torchrun,
# which forwards it to every worker; the workers finish the current iteration, write a checkpoint and
# exit, and this script exits with status 75 (then continue with the same command plus --resume).
# torchrun gives the workers PET_SHUTDOWN_TIMEOUT seconds (default here 120) before killing them.
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 CONFIG GPUS [train.py arguments...]" >&2
  exit 2
fi
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON=${PYTHON:-python}
if [[ -x "$ROOT/.venv/bin/python" && "$PYTHON" == python ]]; then PYTHON="$ROOT/.venv/bin/python"; fi
# Without a GPU every process runs its ops on the CPU: one thread each avoids oversubscription.
if ! "$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
fi
# torchrun forwards these signals to the workers (its default list lacks Slurm's SIGUSR1).
export PET_SIGNALS_TO_HANDLE=${PET_SIGNALS_TO_HANDLE:-SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1}
export PET_SHUTDOWN_TIMEOUT=${PET_SHUTDOWN_TIMEOUT:-120}
# torchrun exits with 1 whenever a worker fails; a pre-empted worker leaves this file behind instead.
MARKER_DIR="$(mktemp -d)"
trap 'rm -rf "$MARKER_DIR"' EXIT
export MMDET_RLA_PREEMPTED_FILE="$MARKER_DIR/preempted"
# Outlive the signal (torchrun gets it too) so that the exit status can be reported.
trap ':' TERM USR1

STATUS=0
# The workers import mmdet_rla from $ROOT in a checkout (from where it is installed otherwise).
PYTHONPATH="$ROOT":${PYTHONPATH:-} \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    -m mmdet_rla.cli.train \
    "$CONFIG" \
    --launcher pytorch "${@:3}" || STATUS=$?
if [[ -e "$MMDET_RLA_PREEMPTED_FILE" ]]; then
  echo "training stopped by a signal after writing a checkpoint: continue with --resume (exit status 75)" >&2
  STATUS=75
fi
exit "$STATUS"
