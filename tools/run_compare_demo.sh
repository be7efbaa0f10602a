#!/usr/bin/env bash
# Same-budget comparison of the four backbone families on the demo task: FCOS with the ResNet-18-tiny
# layout of configs/_demo_/ (16 base channels) and a plain ResNet, RLA, RNNRegNet (ConvLSTM) or RoR
# backbone, trained from scratch on the same generated data with the same seed and number of iterations.
# Writes one figure (loss curves and bbox mAP per backbone) and a table (bbox mAP, parameters, training
# time) to $COMPARE_DIR/compare.{png,md}; every run also logs to TensorBoard with the per-block feature
# grids (tensorboard --logdir $COMPARE_DIR).
#
#   bash tools/run_compare_demo.sh     # 4 trainings of 1500 iterations, about 4 minutes each on 2 idle cores
#
# A small synthetic task: the numbers say how these backbones behave here, not whether the papers'
# COCO results hold. Environment:
#   COMPARE_DIR (work_dirs/compare), COMPARE_BACKBONES ("resnet rla rnn_regnet ror"), COMPARE_EPOCHS (6, of
#   250 iterations), COMPARE_NUM_TRAIN / COMPARE_NUM_VAL (1000 / 50 images of up to 8 objects: the main
#   demo's data, tools/run_demo.sh), COMPARE_LOG_INTERVAL (10),
#   COMPARE_CFG_OPTIONS (extra --cfg-options for every run), COMPARE_PYTHON (use this interpreter and
#   skip tools/setup_env.sh), OMP_NUM_THREADS (1).
# Tiny mode (seconds per run; what the tests run):
#   COMPARE_EPOCHS=1 COMPARE_NUM_TRAIN=8 COMPARE_NUM_VAL=4 COMPARE_LOG_INTERVAL=1 \
#   COMPARE_CFG_OPTIONS="model.test_cfg.score_thr=0.0" bash tools/run_compare_demo.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS=0
log() { printf '\n[compare %s, %4ds] %s\n' "$(date +%H:%M:%S)" "$SECONDS" "$*"; }

if [[ -n "${COMPARE_PYTHON:-}" ]]; then
  PY="$COMPARE_PYTHON"
else
  bash tools/setup_env.sh
  PY="$ROOT/.venv/bin/python"
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export PYTHONWARNINGS=${PYTHONWARNINGS:-ignore}
DIR=${COMPARE_DIR:-work_dirs/compare}
DATA="$DIR/data"
EPOCHS=${COMPARE_EPOCHS:-6}
NUM_TRAIN=${COMPARE_NUM_TRAIN:-1000}
NUM_VAL=${COMPARE_NUM_VAL:-50}
LOG_INTERVAL=${COMPARE_LOG_INTERVAL:-10}
read -r -a BACKBONES <<< "${COMPARE_BACKBONES:-resnet rla rnn_regnet ror}"
read -r -a EXTRA_OPTS <<< "${COMPARE_CFG_OPTIONS:-}"

declare -A CONFIGS=(
  [resnet]=configs/_demo_/fcos_r18-tiny_fpn_gn-head_shapes.py
  [rla]=configs/_demo_/fcos_rla-r18-tiny_fpn_gn-head_shapes.py
  [rnn_regnet]=configs/_demo_/fcos_rnn-regnet18-lstm-tiny_fpn_gn-head_shapes.py
  [ror]=configs/_demo_/fcos_ror-r18-tiny_fpn_gn-head_shapes.py
)
declare -A LABELS=(
  [resnet]="ResNet-18 (mmdet)" [rla]="RLA-ResNet-18" [rnn_regnet]="RNNRegNet-18 (ConvLSTM)" [ror]="RoR-ResNet-18"
)
for name in "${BACKBONES[@]}"; do
  [[ -n "${CONFIGS[$name]:-}" ]] || { echo "COMPARE_BACKBONES: unknown backbone '$name' (allowed: resnet rla rnn_regnet ror)" >&2; exit 2; }
done

DATA_ARGS=(--num-train "$NUM_TRAIN" --num-val "$NUM_VAL" --size 160 160 --max-objects 8 --seed 0)
log "dataset: $DATA ($NUM_TRAIN train / $NUM_VAL val images of 160x160, up to 8 objects, seed 0)"
# A dataset made with other arguments (another size, an older version of this script) is regenerated.
STAMP="$DATA/make_coco_dataset.args"
if [[ -f "$DATA/annotations/instances_train.json" && -f "$DATA/annotations/instances_val.json" \
      && "$(cat "$STAMP" 2>/dev/null)" == "${DATA_ARGS[*]}" ]]; then
  echo "present, not regenerated (delete $DATA to regenerate)"
else
  rm -f "$STAMP"
  "$PY" tools/misc/make_coco_dataset.py "$DATA" "${DATA_ARGS[@]}"
  echo "${DATA_ARGS[*]}" > "$STAMP"
fi
OPTS=(
  "train_dataloader.dataset.data_root=$DATA/" "val_dataloader.dataset.data_root=$DATA/"
  "test_dataloader.dataset.data_root=$DATA/"
  "val_evaluator.ann_file=$DATA/annotations/instances_val.json"
  "test_evaluator.ann_file=$DATA/annotations/instances_val.json"
  randomness.seed=0 "train_cfg.max_epochs=$EPOCHS" "train_cfg.val_interval=$EPOCHS"
  "default_hooks.checkpoint.interval=$EPOCHS" "param_scheduler.1.end=$EPOCHS" "param_scheduler.1.T_max=$EPOCHS"
  "default_hooks.logger.interval=$LOG_INTERVAL"
  "${EXTRA_OPTS[@]}"
)
loadavg() { cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo null; }

RUN_ARGS=()
for name in "${BACKBONES[@]}"; do
  config=${CONFIGS[$name]}
  work="$DIR/$name"
  log "training ${LABELS[$name]} ($config), $EPOCHS epochs, load average $(loadavg)"
  rm -rf "$work"
  mkdir -p "$work"
  load_start=$(loadavg)
  start=$(date +%s.%N)
  "$PY" tools/train.py "$config" --work-dir "$work" --vis-backend tensorboard --vis-features \
    --cfg-options "${OPTS[@]}" > "$work/train.log" 2>&1 || { tail -n 40 "$work/train.log"; exit 1; }
  end=$(date +%s.%N)
  load_end=$(loadavg)
  "$PY" - "$work/run_info.json" "$start" "$end" "$load_start" "$load_end" <<'PYINFO'
import json, sys
path, start, end, load_start, load_end = sys.argv[1:]
number = lambda s: None if s == 'null' else float(s)
json.dump(dict(train_seconds=float(end) - float(start), load_average_start=number(load_start),
               load_average_end=number(load_end)), open(path, 'w'))
PYINFO
  grep -E "bbox_mAP_copypaste" "$work/train.log" | tail -n 1 | sed -E 's/.* - mmengine - INFO - //' || true
  RUN_ARGS+=(--run "${LABELS[$name]}" "$config" "$work")
done

log "figure and table"
"$PY" tools/analysis/compare_runs.py "${RUN_ARGS[@]}" --out "$DIR/compare.png" --table "$DIR/compare.md" \
  --title "FCOS, ResNet-18-tiny layout, synthetic shapes: same data, seed and $EPOCHS epochs"
log "done: $DIR/compare.png, $DIR/compare.md; TensorBoard: tensorboard --logdir $DIR"
