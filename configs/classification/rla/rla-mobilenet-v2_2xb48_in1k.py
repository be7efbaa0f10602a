# RLA-MobileNetV2 on ImageNet-1k, the RLA-Net paper's recipe (Sec. 4.2, after MobileNetV2): SGD (momentum 0.9,
# weight decay 4e-5), 96 images per step on 2 GPUs (48 each), 400 epochs, lr 0.045 multiplied by 0.98 after every
# epoch, 224x224 random-resized crops and flips (the authors' train_light.py). The network is the authors' released
# dsrla_mobilenetv2_k32: k = 32 state channels, ONE depthwise 3x3 recurrent conv shared by the whole network, and a
# last 1x1 conv reading concat(x, ReLU6(BN(h))) (320 + 32 -> 1280), whose output (index 7) feeds the classifier.
# Top-1 error of the released weights: 27.62% (paper Table 3: 27.68%; MobileNetV2: 28.36%).
# The authors' classifier has a Dropout(0.2) before the fc; mmpretrain's LinearClsHead has none (nor does
# mmpretrain's own MobileNetV2 config): at inference both are the same function.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/schedules/imagenet_bs256_epochstep.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmdet_rla'], allow_failed_imports=False)
default_scope = 'mmpretrain'

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='RLAMobileNetV2',
        rla_channels=32,
        recurrent_conv='depthwise',  # the dsrla nets; 'full' gives rla_mobilenetv2 (a dense 3x3 conv)
        recurrent_conv_sharing='network',  # as the authors' code; 'stage' gives the paper's one per stage
        out_indices=(7,),
    ),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1280,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ),
)

train_dataloader = dict(batch_size=48)
val_dataloader = dict(batch_size=48)
test_dataloader = dict(batch_size=48)

# SGD lr 0.045, momentum 0.9, weight decay 4e-5 and lr x0.98 per epoch come from the base schedule.
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.045, momentum=0.9, weight_decay=4e-5))
param_scheduler = dict(type='StepLR', by_epoch=True, step_size=1, gamma=0.98)
# Exact resume, a checkpoint on SIGTERM/SIGUSR1 (exit status 75) and crash-safe checkpoint files:
# mmdet_rla/engine, docs/training.md, "Interruptions and resuming".
# (_delete_: the mmpretrain schedule sets by_epoch, which mmengine refuses next to a loop type)
train_cfg = dict(_delete_=True, type='ResumableEpochBasedTrainLoop', max_epochs=400, val_interval=1)
auto_scale_lr = dict(base_batch_size=96)
default_hooks = dict(checkpoint=dict(type='ResumableCheckpointHook'), logger=dict(type='MainProcessLoggerHook'))
