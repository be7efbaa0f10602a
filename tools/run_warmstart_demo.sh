#!/usr/bin/env bash
# Warm starts on the bundled synthetic classification task (docs/weights.md): train the tiny ResNet-20 of
# configs/classification/_demo_/ for a few epochs (short of its best, so that there is accuracy left to gain),
# then continue from its checkpoint for 6 epochs with one fine-tuning schedule three ways: the ResNet itself (the
# control), and RLA-ResNet-20 and RegNet-20 (ConvLSTM) started from it (init_cfg type ResNetWarmStart, every new
# part training). Each is evaluated before its first step (ValidateBeforeTrainHook: the warm starts compute the
# ResNet's function, so they score the ResNet's accuracy) and after every epoch. Prints the accuracies per epoch.
# About three minutes of training on 2 idle cores.
#
#   bash tools/run_warmstart_demo.sh     # everything goes to work_dirs/warmstart_demo/
#
# Environment: WARMSTART_DIR (work_dirs/warmstart_demo), WARMSTART_RESNET_EPOCHS (4), OMP_NUM_THREADS (1).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS=0
log() { printf '\n[warmstart-demo %s, %3ds] %s\n' "$(date +%H:%M:%S)" "$SECONDS" "$*"; }

bash tools/setup_env.sh
PY="$ROOT/.venv/bin/python"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export PYTHONWARNINGS=${PYTHONWARNINGS:-ignore}
DIR=${WARMSTART_DIR:-work_dirs/warmstart_demo}
DATA="$DIR/data"
EPOCHS=${WARMSTART_RESNET_EPOCHS:-4}
DEMO=configs/classification/_demo_
DATA_OPTS=("train_dataloader.dataset.data_root=$DATA" "val_dataloader.dataset.data_root=$DATA"
           "test_dataloader.dataset.data_root=$DATA")

log "dataset: $DATA"
"$PY" tools/misc/make_cls_dataset.py "$DATA" --train-per-class 60 --val-per-class 20 --seed 0

log "1/4 ResNet-20 from scratch ($EPOCHS epochs)"
rm -rf "${DIR:?}/resnet20"
"$PY" tools/train.py "$DEMO/resnet20-tiny_1xb16_synthetic-patterns.py" --work-dir "$DIR/resnet20" \
  --cfg-options "${DATA_OPTS[@]}" randomness.seed=0 "train_cfg.max_epochs=$EPOCHS" "train_cfg.val_interval=$EPOCHS" \
  "default_hooks.checkpoint.interval=$EPOCHS" > "$DIR/resnet20.log" 2>&1 || { tail -n 30 "$DIR/resnet20.log"; exit 1; }
RESNET="$DIR/resnet20/epoch_$EPOCHS.pth"
grep -E "Epoch\(val\)" "$DIR/resnet20.log" | tail -n 1 | sed -E 's/.* - mmengine - INFO - //'

step=2
for config in resnet20-tiny-continued rla-resnet20-tiny-warmstart rnn-regnet20-lstm-tiny-warmstart; do
  name=${config%-*}
  log "$step/4 $config: from $RESNET (6 epochs)"
  rm -rf "${DIR:?}/$name"
  "$PY" tools/train.py "$DEMO/${config}_1xb16_synthetic-patterns.py" --work-dir "$DIR/$name" \
    --cfg-options "${DATA_OPTS[@]}" randomness.seed=0 "model.backbone.init_cfg.checkpoint=$RESNET" \
    "model.head.init_cfg.checkpoint=$RESNET" > "$DIR/$name.log" 2>&1 || { tail -n 30 "$DIR/$name.log"; exit 1; }
  grep -E "(ResNetWarmStart|Pretrained): [A-Za-z]+-20 from" "$DIR/$name.log" | head -n 1 | sed -E 's/.* - mmengine - INFO - //' | cut -c1-200
  step=$((step + 1))
done

log "top-1 accuracy on the 80 validation images, by epoch (epoch 0: before the first step)"
"$PY" - "$DIR" <<'PYTABLE'
import sys
from mmdet_rla.analysis.compare import read_scalars
root = sys.argv[1]
print(f'| model | ' + ' | '.join(f'epoch {i}' for i in range(7)) + ' |')
print('|---' * 8 + '|')
for name, label in (('resnet20-tiny', 'ResNet-20, continued'), ('rla-resnet20-tiny', 'RLA-ResNet-20, warm start'),
                    ('rnn-regnet20-lstm-tiny', 'RegNet-20, warm start')):
    accs = [e['accuracy/top1'] for e in read_scalars(f'{root}/{name}') if 'accuracy/top1' in e]
    print(f'| {label} | ' + ' | '.join(f'{a:.2f}' for a in accs) + ' |')
PYTABLE
log "done: logs in $DIR"
