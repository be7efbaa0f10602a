# RLA-ResNet-50 on ImageNet-1k, the RLA-Net paper's recipe (Sec. 4.2): SGD (momentum 0.9, weight decay
# 1e-4), 256 images per step on 4 GPUs, 120 epochs, lr 0.1 divided by 10 every 30 epochs, Kaiming init and
# a zero-initialised last BN in every block (RLAResNet's defaults). Top-1 error in the paper: 22.83%.
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
        type='RLAResNet',
        norm_eval=False,  # trains its norms (mmpretrain's convention; mmdet's default is True)
        depth=50,
        rla_channels=32,
        # The authors' code feeds the block output ReLU(y + identity) to the RLA path (an in-place alias);
        # 'output' keeps these weights interchangeable with their released ones and with the detection
        # configs in configs/rla/. Use 'residual' for the paper's literal y.
        rla_input='output',
        # The classifier reads concat(x, ReLU(BN(h))) of the last stage: 2048 + 32 channels.
        with_rla_output=True,
        out_indices=(3,),
        style='pytorch',
    ),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048 + 32,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ),
)

# 120 epochs, lr x0.1 at 30, 60 and 90 (the base schedule has SGD lr 0.1, momentum 0.9, weight decay 1e-4).
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[30, 60, 90], gamma=0.1)
# Exact resume, a checkpoint on SIGTERM/SIGUSR1 (exit status 75) and crash-safe checkpoint files:
# mmdet_rla/engine, docs/training.md, "Interruptions and resuming".
# (_delete_: the mmpretrain schedule sets by_epoch, which mmengine refuses next to a loop type)
train_cfg = dict(_delete_=True, type='ResumableEpochBasedTrainLoop', max_epochs=120, val_interval=1)
auto_scale_lr = dict(base_batch_size=256)
default_hooks = dict(checkpoint=dict(type='ResumableCheckpointHook'), logger=dict(type='MainProcessLoggerHook'))
