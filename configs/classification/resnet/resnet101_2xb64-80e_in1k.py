# Plain ResNet-101 with the RoR paper's ImageNet recipe (the "Residual" column of its Table 5): SGD with
# momentum 0.9, 128 images per step on 2 GPUs, 80 epochs, lr 0.01 divided by 10 after 50% and 75% of the
# epochs, Kaiming init. The paper states no weight decay; 1e-4 (mmpretrain's ResNet default) is kept.
_base_ = [
    'mmpretrain::_base_/models/resnet101.py',
    'mmpretrain::_base_/datasets/imagenet_bs64.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
]
default_scope = 'mmpretrain'

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[40, 60], gamma=0.1)
# Exact resume, a checkpoint on SIGTERM/SIGUSR1 (exit status 75) and crash-safe checkpoint files:
# mmdet_rla/engine, docs/training.md, "Interruptions and resuming".
# (_delete_: the mmpretrain schedule sets by_epoch, which mmengine refuses next to a loop type)
train_cfg = dict(_delete_=True, type='ResumableEpochBasedTrainLoop', max_epochs=80, val_interval=1)
auto_scale_lr = dict(base_batch_size=128)
default_hooks = dict(checkpoint=dict(type='ResumableCheckpointHook'), logger=dict(type='MainProcessLoggerHook'))
