# YOLOv3 at 320x320 (300 epochs, as mmdet's) with an RLA-MobileNetV2 backbone: the RLA-Net authors' released
# design (k = 32, one depthwise recurrent conv for the whole network), initialised from their ImageNet weights.
# mmdet's backbone settings are kept: out_indices (2, 4, 6) give 32, 96 and 320 channels, as the neck expects, and
# LeakyReLU replaces ReLU6 (also on the RLA output) as in mmdet's config. The last 1x1 conv (index 7) is not an
# output, so it and the state update read only by it get no gradient: mmdet's config already sets
# find_unused_parameters = True for the same reason with its plain MobileNetV2.
_base_ = 'mmdet::yolo/yolov3_mobilenetv2_8xb24-320-300e_coco.py'
custom_imports = dict(imports=['mmdet_rla'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='RLAMobileNetV2',
        rla_channels=32,
        recurrent_conv='depthwise',
        recurrent_conv_sharing='network',
        # Made from the authors' released dsrla_mobilenetv2_k32_2762.pth.tar by
        # tools/model_converters/rlanet2mmdet.py (see docs/rla_mobilenetv2.md).
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/rla-mobilenetv2_in1k_official.pth'),
    )
)

# Training that survives interruption (mmdet_rla/engine; docs/training.md, "Interruptions and resuming"): exact
# resume, a checkpoint on SIGTERM/SIGUSR1 (exit status 75) and crash-safe checkpoint files.
train_cfg = dict(type='ResumableEpochBasedTrainLoop')
default_hooks = dict(checkpoint=dict(type='ResumableCheckpointHook'), logger=dict(type='MainProcessLoggerHook'))
