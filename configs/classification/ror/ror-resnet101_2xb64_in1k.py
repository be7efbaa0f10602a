# RoR-ResNet-101 (Refine-or-Represent, Shen & Gao) on ImageNet-1k with the RoR paper's recipe (Sec. 4.1): SGD
# with momentum 0.9, 128 images per step on 2 GPUs, 80 epochs, lr 0.01 divided by 10 after 50% and 75% of the
# epochs, Kaiming init; Represent ratio 0.05 and drop rate 0.2 on the Refine channels (Sec. 4.2). The paper
# states no weight decay: 1e-4 is used. 44,549,160 parameters, exactly ResNet-101's (RoR adds none).
# Paper top-1 error: 21.15% (ResNet-101: 21.78%).
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmdet_rla'], allow_failed_imports=False)
default_scope = 'mmpretrain'

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='RoRResNet',
        norm_eval=False,  # trains its norms (mmpretrain's convention; mmdet's default is True)
        depth=101,
        represent_ratio=0.05,
        refine_drop_rate=0.2,
        seed=0,  # the Represent channels are drawn from this seed (and stored in checkpoints)
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

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[40, 60], gamma=0.1)
# Exact resume, a checkpoint on SIGTERM/SIGUSR1 (exit status 75) and crash-safe checkpoint files:
# mmdet_rla/engine, docs/training.md, "Interruptions and resuming".
# (_delete_: the mmpretrain schedule sets by_epoch, which mmengine refuses next to a loop type)
train_cfg = dict(_delete_=True, type='ResumableEpochBasedTrainLoop', max_epochs=80, val_interval=1)
auto_scale_lr = dict(base_batch_size=128)
default_hooks = dict(checkpoint=dict(type='ResumableCheckpointHook'), logger=dict(type='MainProcessLoggerHook'))
