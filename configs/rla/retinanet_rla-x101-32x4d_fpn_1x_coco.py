# RetinaNet with an RLA-ResNeXt-101 (32x4d) backbone, FPN, 1x schedule, COCO 2017. The authors' code defines
# rla_resnext101_32x4d but released no weights for it, so the trunk starts from mmdet's ImageNet ResNeXt-101 32x4d
# (docs/weights.md): the RLA parts as init_weights makes them and each block's h-columns at zero, so that at step 0
# the network is that ResNeXt. To start from an RLA-ResNeXt-101 trained with
# configs/classification/rla/rla-resnext101-32x4d_4xb64_in1k.py instead, set
# init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=...) and freeze_added_parts=True.
_base_ = './retinanet_rla-r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        type='RLAResNeXt',
        depth=101,
        groups=32,
        base_width=4,
        rla_input='residual',  # the paper's y (the R-50 config's 'output' is what the authors' weights used)
        init_cfg=dict(type='ResNetWarmStart', checkpoint='open-mmlab://resnext101_32x4d'),
        # Frozen stem and first stage as the R-50 config, but not the first stage's RLA parts, which no checkpoint
        # trained.
        freeze_added_parts=False,
    )
)
