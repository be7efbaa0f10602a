# RetinaNet with an RLA-ResNeXt-101 (32x4d) backbone, FPN, 1x schedule, COCO 2017. The authors' code defines
# rla_resnext101_32x4d but released no weights for it: train
# configs/classification/rla/rla-resnext101-32x4d_4xb64_in1k.py on ImageNet first (prefix='backbone.' takes the
# backbone out of that classifier checkpoint).
_base_ = './retinanet_rla-r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        type='RLAResNeXt',
        depth=101,
        groups=32,
        base_width=4,
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='work_dirs/rla-resnext101-32x4d_4xb64_in1k/epoch_120.pth')))
