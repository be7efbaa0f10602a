#!/usr/bin/env bash
# Training on a Slurm cluster: tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
# GPUS (total, default 8), GPUS_PER_NODE (8), CPUS_PER_TASK (5) and SRUN_ARGS as for mmdet's script.
#
# Pre-emption and time limits: srun runs with --signal=USR1@${SIGNAL_LEAD:-120}, so every task gets
# SIGUSR1 that many seconds before the time limit; on it (or on the SIGTERM of a pre-emption) training
# finishes the current iteration, writes a checkpoint and last_checkpoint and exits with status 75, and
# so does this script. Continue with the same command plus --resume (it takes the newest valid checkpoint
# of WORK_DIR and continues exactly). Inside an sbatch job submitted with --requeue, REQUEUE=1 makes this
# script requeue the job itself on status 75; pass --resume in the arguments so that every run of the job
# continues where the last one stopped:
#
#   #!/usr/bin/env bash
#   #SBATCH --requeue --open-mode=append ...
#   REQUEUE=1 bash tools/slurm_train.sh PARTITION JOB CONFIG WORK_DIR --resume
set -x
set -euo pipefail
if [[ $# -lt 4 ]]; then
  echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py arguments...]" >&2
  exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
SIGNAL_LEAD=${SIGNAL_LEAD:-120}
REQUEUE=${REQUEUE:-0}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON=${PYTHON:-python}
PREEMPTED=75  # mmdet_rla.engine.PREEMPTED_EXIT_CODE

STATUS=0
# The tasks import mmdet_rla from $ROOT in a checkout (from where it is installed otherwise).
# shellcheck disable=SC2086  # SRUN_ARGS holds several words on purpose
PYTHONPATH="$ROOT":${PYTHONPATH:-} \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    --signal=USR1@"$SIGNAL_LEAD" \
    ${SRUN_ARGS} \
    "$PYTHON" -u -m mmdet_rla.cli.train "$CONFIG" --work-dir="$WORK_DIR" --launcher=slurm "${@:5}" || STATUS=$?
if [[ "$STATUS" -eq "$PREEMPTED" && "$REQUEUE" == 1 && -n "${SLURM_JOB_ID:-}" ]]; then
  scontrol requeue "$SLURM_JOB_ID"
fi
exit "$STATUS"
