# RegNet-50 (RNN-regulated ResNet-50 with ConvLSTM regulators, Xu et al.) on ImageNet-1k with the paper's
# recipe (Sec. IV-B): SGD (momentum 0.9, weight decay 1e-4), 128 images per step on 4 GPUs, 90 epochs, lr 0.06
# divided by 10 at epochs 50 and 70, 224x224 random-resized crops and flips; 224 center crop for testing.
# 31,333,416 parameters (paper: 31.3M); paper top-1 / top-5 error: 23.43% / 6.93% (ResNet-50: 24.81% / 7.78%).
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmdet_rla'], allow_failed_imports=False)
default_scope = 'mmpretrain'

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='RNNRegNet',
        norm_eval=False,  # trains its norms (mmpretrain's convention; mmdet's default is True)
        depth=50,
        regulator='lstm',
        regulator_conv='light',  # the paper's grouped two-step convolutions (Table I)
        out_indices=(3,),
        style='pytorch',
    ),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ),
)

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.06, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[50, 70], gamma=0.1)
# Exact resume, a checkpoint on SIGTERM/SIGUSR1 (exit status 75) and crash-safe checkpoint files:
# mmdet_rla/engine, docs/training.md, "Interruptions and resuming".
# (_delete_: the mmpretrain schedule sets by_epoch, which mmengine refuses next to a loop type)
train_cfg = dict(_delete_=True, type='ResumableEpochBasedTrainLoop', max_epochs=90, val_interval=1)
auto_scale_lr = dict(base_batch_size=128)
default_hooks = dict(checkpoint=dict(type='ResumableCheckpointHook'), logger=dict(type='MainProcessLoggerHook'))
