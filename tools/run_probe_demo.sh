#!/usr/bin/env bash
# Block probes (RegNet's Fig. 1(b)) on the bundled synthetic classification task: train RLA-ResNet-20,
# RegNet-20 (ConvLSTM), RoR-ResNet-20 and ResNet-20 at half width (configs/classification/_demo_/, every norm
# training) with the same data, recipe and seed, then fit a linear classifier on the pooled output of each of their last blocks
# (tools/analysis/block_probe.py) and chart the test accuracies. About a minute of training per model on 2
# idle cores.
#
#   bash tools/run_probe_demo.sh      # everything goes to work_dirs/probe_demo/
#
# Environment: PROBE_DIR (work_dirs/probe_demo), PROBE_NUM_BLOCKS (9: every block; the paper probes the
# last 3), PROBE_EPOCHS (12), OMP_NUM_THREADS (1).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS=0
log() { printf '\n[probe-demo %s, %3ds] %s\n' "$(date +%H:%M:%S)" "$SECONDS" "$*"; }

bash tools/setup_env.sh
PY="$ROOT/.venv/bin/python"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export PYTHONWARNINGS=${PYTHONWARNINGS:-ignore}
DIR=${PROBE_DIR:-work_dirs/probe_demo}
DATA="$DIR/data"
NUM_BLOCKS=${PROBE_NUM_BLOCKS:-9}
EPOCHS=${PROBE_EPOCHS:-12}
DATA_OPTS=("train_dataloader.dataset.data_root=$DATA" "val_dataloader.dataset.data_root=$DATA"
           "test_dataloader.dataset.data_root=$DATA")
MODELS=(
  "ResNet-20:configs/classification/_demo_/resnet20-tiny_1xb16_synthetic-patterns.py:resnet20"
  "RLA-ResNet-20:configs/classification/_demo_/rla-resnet20-tiny_1xb16_synthetic-patterns.py:rla_resnet20"
  "RegNet-20 (ConvLSTM):configs/classification/_demo_/rnn-regnet20-lstm-tiny_1xb16_synthetic-patterns.py:rnn_regnet20"
  "RoR-ResNet-20:configs/classification/_demo_/ror-resnet20-tiny_1xb16_synthetic-patterns.py:ror_resnet20"
)

log "dataset: $DATA"
"$PY" tools/misc/make_cls_dataset.py "$DATA" --train-per-class 60 --val-per-class 20 --seed 0

PAIRS=()
LABELS=()
for entry in "${MODELS[@]}"; do
  IFS=: read -r label config name <<< "$entry"
  log "training $label ($config, $EPOCHS epochs)"
  rm -rf "${DIR:?}/$name"
  "$PY" tools/train.py "$config" --work-dir "$DIR/$name" --cfg-options "${DATA_OPTS[@]}" randomness.seed=0 \
    "train_cfg.max_epochs=$EPOCHS" "train_cfg.val_interval=$EPOCHS" "default_hooks.checkpoint.interval=$EPOCHS" \
    > "$DIR/$name.log" 2>&1 || { tail -n 30 "$DIR/$name.log"; exit 1; }
  grep -E "Epoch\(val\)" "$DIR/$name.log" | tail -n 1 | sed -E 's/.* - mmengine - INFO - //'
  PAIRS+=("$config" "$DIR/$name/epoch_$EPOCHS.pth")
  LABELS+=("$label")
done

log "linear probes on the last $NUM_BLOCKS blocks"
"$PY" tools/analysis/block_probe.py "${PAIRS[@]}" --labels "${LABELS[@]}" --num-blocks "$NUM_BLOCKS" \
  --out "$DIR/block_probe.png" --json "$DIR/block_probe.json" --cfg-options "${DATA_OPTS[@]}" \
  --title "Linear probes on block outputs, synthetic patterns ($EPOCHS epochs each)"
log "done: $DIR/block_probe.png, $DIR/block_probe.json"
