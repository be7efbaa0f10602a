# Plain ResNet-50 on ImageNet-1k with the RLA-Net paper's recipe (the baseline of its Table 3): SGD (momentum
# 0.9, weight decay 1e-4), 256 images per step on 4 GPUs, 120 epochs, lr 0.1 divided by 10 every 30 epochs.
# mmpretrain's own ResNet; its checkpoints load into mmdet's ResNet (same key layout).
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs64.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
]
default_scope = 'mmpretrain'

# RLA-Net's recipe zero-initialises the last BN of each block for its baselines too (official resnet.py).
model = dict(backbone=dict(zero_init_residual=True))

param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[30, 60, 90], gamma=0.1)
# Exact resume, a checkpoint on SIGTERM/SIGUSR1 (exit status 75) and crash-safe checkpoint files:
# mmdet_rla/engine, docs/training.md, "Interruptions and resuming".
# (_delete_: the mmpretrain schedule sets by_epoch, which mmengine refuses next to a loop type)
train_cfg = dict(_delete_=True, type='ResumableEpochBasedTrainLoop', max_epochs=120, val_interval=1)
auto_scale_lr = dict(base_batch_size=256)
default_hooks = dict(checkpoint=dict(type='ResumableCheckpointHook'), logger=dict(type='MainProcessLoggerHook'))
