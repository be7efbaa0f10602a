# RoR-ResNet-56 on CIFAR-10 with the RoR paper's recipe (Sec. 4.1): SGD with momentum 0.9, batch 128 on 2 GPUs,
# 300 epochs, lr 0.01 divided by 10 after 50% and 75% of the epochs (150, 225), Kaiming init, crop+flip
# augmentation; Represent ratio 0.05, drop rate 0.2 on the Refine channels. The paper states no weight decay:
# 1e-4 is used. The paper's CIFAR ResNet-56/110/164 are bottleneck nets of width 32 (Table 2: 2.3M parameters
# for ResNet-56; here 2,338,730). Paper test error: 4.79% (ResNet-56: 6.43%, with stochastic depth: 5.76%).
# The baselines of Tables 3 and 4 are the same config with --cfg-options model.backbone.represent_ratio=0
# (stochastic depth, "SDepth") and additionally model.backbone.refine_drop_rate=0 (plain ResNet, "Residual").
_base_ = [
    'mmpretrain::_base_/datasets/cifar10_bs16.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmdet_rla'], allow_failed_imports=False)
default_scope = 'mmpretrain'

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='RoRResNet',
        norm_eval=False,  # trains its norms (mmpretrain's convention; mmdet's default is True)
        depth=56,
        stem_type='cifar',
        cifar_arch='ror',  # the paper's Table 2 nets: bottleneck blocks, base width 32
        represent_ratio=0.05,
        refine_drop_rate=0.2,
        seed=0,
        out_indices=(2,),
    ),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1,),
    ),
)

train_dataloader = dict(batch_size=64)
val_dataloader = dict(batch_size=64)
test_dataloader = dict(batch_size=64)

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[150, 225], gamma=0.1)
# Exact resume, a checkpoint on SIGTERM/SIGUSR1 (exit status 75) and crash-safe checkpoint files:
# mmdet_rla/engine, docs/training.md, "Interruptions and resuming".
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=300, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=128)
default_hooks = dict(
    checkpoint=dict(type='ResumableCheckpointHook', interval=10, max_keep_ckpts=2),
    logger=dict(type='MainProcessLoggerHook'),
)
