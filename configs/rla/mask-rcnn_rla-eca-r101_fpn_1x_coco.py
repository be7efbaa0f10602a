_base_ = './mask-rcnn_rla-eca-r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        depth=101, init_cfg=dict(type='Pretrained', checkpoint='checkpoints/rla-eca-resnet101_in1k_official.pth')
    )
)
