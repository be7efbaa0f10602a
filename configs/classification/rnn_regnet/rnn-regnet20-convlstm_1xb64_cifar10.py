# RegNet-20 (ConvLSTM regulators) on CIFAR-10 with the RegNet paper's CIFAR recipe (Sec. IV-A): SGD (momentum
# 0.9, weight decay 1e-4), batch 64 on one GPU, 150 epochs, lr 0.1 divided by 10 at epoch 80, crop+flip
# augmentation, trained on the 50k training images and evaluated on the test set.
# Paper test error: 7.28% (ResNet-20: 8.38%). 51,072 parameters more than ResNet-20 (paper: +0.04M).
_base_ = [
    'mmpretrain::_base_/datasets/cifar10_bs16.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmdet_rla'], allow_failed_imports=False)
default_scope = 'mmpretrain'

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='RNNRegNet',
        norm_eval=False,  # trains its norms (mmpretrain's convention; mmdet's default is True)
        depth=20,
        stem_type='cifar',  # 3x3 stem, three stages of 16/32/64 channels
        regulator='lstm',
        out_indices=(2,),
    ),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1,),
    ),
)

train_dataloader = dict(batch_size=64)
val_dataloader = dict(batch_size=64)
test_dataloader = dict(batch_size=64)

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[80], gamma=0.1)
# Exact resume, a checkpoint on SIGTERM/SIGUSR1 (exit status 75) and crash-safe checkpoint files:
# mmdet_rla/engine, docs/training.md, "Interruptions and resuming".
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=150, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
default_hooks = dict(
    checkpoint=dict(type='ResumableCheckpointHook', interval=10, max_keep_ckpts=2),
    logger=dict(type='MainProcessLoggerHook'),
)
