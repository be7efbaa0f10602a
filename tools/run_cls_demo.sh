#!/usr/bin/env bash
# The classification demo: generate a small image dataset (checkerboards, circles, horizontal and
# vertical stripes; 32x32, 4 classes), train a tiny RLA-ResNet-20 classifier on it from scratch on
# CPU with tools/train.py, and evaluate the checkpoint with tools/test.py (top-1 accuracy; chance
# is 25%). About a minute of training on 2 cores.
#
#   bash tools/run_cls_demo.sh        # everything goes to work_dirs/cls_demo/
#
# Environment: CLS_DEMO_DIR (default work_dirs/cls_demo), OMP_NUM_THREADS (default 1: on a busy
# 2-core machine, OpenMP threads that wait for each other make training several times slower).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS=0
log() { printf '\n[cls-demo %s, %3ds] %s\n' "$(date +%H:%M:%S)" "$SECONDS" "$*"; }

bash tools/setup_env.sh
PY="$ROOT/.venv/bin/python"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export PYTHONWARNINGS=${PYTHONWARNINGS:-ignore}  # pkg_resources/torch deprecation chatter
CONFIG=configs/classification/_demo_/rla-resnet20-tiny_1xb16_synthetic-patterns.py
DEMO=${CLS_DEMO_DIR:-work_dirs/cls_demo}
DATA="$DEMO/data"
DATA_OPTS=("train_dataloader.dataset.data_root=$DATA" "val_dataloader.dataset.data_root=$DATA"
           "test_dataloader.dataset.data_root=$DATA")

log "1/3 dataset: $DATA"
"$PY" tools/misc/make_cls_dataset.py "$DATA" --train-per-class 60 --val-per-class 20 --seed 0

log "2/3 training on CPU (12 epochs x 15 iterations, batch 16)"
rm -rf "$DEMO/train"
"$PY" tools/train.py "$CONFIG" --work-dir "$DEMO/train" --cfg-options "${DATA_OPTS[@]}" 2>&1 \
  | grep --line-buffered -E "Epoch\(train\).*\[15/15\]|Epoch\(val\)|Traceback|Error:" | sed -E 's/ - mmengine - INFO - / /'
CHECKPOINT="$DEMO/train/epoch_12.pth"
[[ -f "$CHECKPOINT" ]] || { echo "training failed: no $CHECKPOINT (see $DEMO/train/*/*.log)" >&2; exit 1; }

log "3/3 testing the checkpoint (tools/test.py)"
rm -rf "$DEMO/test"
"$PY" tools/test.py "$CONFIG" "$CHECKPOINT" --work-dir "$DEMO/test" --cfg-options "${DATA_OPTS[@]}" \
  > "$DEMO/test.log" 2>&1 || { tail -n 30 "$DEMO/test.log"; exit 1; }
grep -E "Epoch\(test\)" "$DEMO/test.log" | sed -E 's/ - mmengine - INFO - / /'
log "done: checkpoint $CHECKPOINT, logs in $DEMO/train and $DEMO/test"
