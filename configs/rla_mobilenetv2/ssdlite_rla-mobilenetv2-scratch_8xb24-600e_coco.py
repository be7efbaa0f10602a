# SSDLite 320 (600 epochs, trained from scratch, as mmdet's) with an RLA-MobileNetV2 backbone: the RLA-Net
# authors' released design (k = 32 state channels, one depthwise recurrent conv shared by the whole network).
# mmdet's backbone settings are kept: out_indices (4, 7) give 96 and 1280 channels, as the neck expects; index 7 is
# the last 1x1 conv, which reads concat(x, ReLU6(BN(h))).
_base_ = 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py'
custom_imports = dict(imports=['mmdet_rla'], allow_failed_imports=False)

model = dict(
    backbone=dict(type='RLAMobileNetV2', rla_channels=32, recurrent_conv='depthwise', recurrent_conv_sharing='network'),
    # mmdet 3.3.0's SSDHead cannot predict (AttributeError on loss_cls, mmdetection issue #11063): the same head
    # with that fixed, for validation and testing.
    bbox_head=dict(type='FixedSSDHead'),
)

# Training that survives interruption (mmdet_rla/engine; docs/training.md, "Interruptions and resuming"): exact
# resume, a checkpoint on SIGTERM/SIGUSR1 (exit status 75) and crash-safe checkpoint files.
train_cfg = dict(type='ResumableEpochBasedTrainLoop')
default_hooks = dict(checkpoint=dict(type='ResumableCheckpointHook'), logger=dict(type='MainProcessLoggerHook'))
