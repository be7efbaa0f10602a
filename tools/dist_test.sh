#!/usr/bin/env bash
# Distributed testing with torchrun: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
# GPUS is the number of processes per node (on a CPU-only machine: processes, using gloo).
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT as for mmdet's script.
set -euo pipefail
if [[ $# -lt 3 ]]; then
  echo "usage: $0 CONFIG CHECKPOINT GPUS [test.py arguments...]" >&2
  exit 2
fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
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

# The workers import mmdet_rla from $ROOT in a checkout (from where it is installed otherwise).
PYTHONPATH="$ROOT":${PYTHONPATH:-} \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    -m mmdet_rla.cli.test \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
