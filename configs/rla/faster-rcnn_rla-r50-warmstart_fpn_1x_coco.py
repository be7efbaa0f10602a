# Faster R-CNN with an RLA-ResNet-50 backbone, FPN, 1x schedule, COCO 2017, started from torchvision's ImageNet
# ResNet-50 instead of the authors' RLA-ResNet-50 weights (./faster-rcnn_rla-r50_fpn_1x_coco.py): every trunk tensor
# from the ResNet, the RLA parts as init_weights makes them and each block's h-columns at zero, so that at step 0
# the network is that ResNet-50 (docs/weights.md). For a family or a depth without released weights, and to
# compare RLA with its ResNet from the same start.
_base_ = './faster-rcnn_rla-r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        rla_input='residual',  # the paper's y (the base config's 'output' is what the authors' weights used)
        init_cfg=dict(type='ResNetWarmStart', checkpoint='torchvision://resnet50'),
        # Frozen stem and first stage as mmdet's R-50 configs, but not the first stage's RLA parts, which no
        # checkpoint trained.
        freeze_added_parts=False,
    )
)
