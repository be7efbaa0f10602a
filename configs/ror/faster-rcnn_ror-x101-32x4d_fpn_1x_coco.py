# Faster R-CNN with a RoR-ResNeXt-101 (32x4d) backbone, FPN, 1x schedule, COCO 2017.
_base_ = './faster-rcnn_ror-r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        type='RoRResNeXt',
        depth=101,
        groups=32,
        base_width=4,
        # mmdet's ImageNet ResNeXt-101 32x4d weights: same parameter names as RoRResNeXt.
        init_cfg=dict(type='ResNetWarmStart', checkpoint='open-mmlab://resnext101_32x4d'),
    )
)
