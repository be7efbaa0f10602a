# Mask R-CNN with a RoR-ResNet-101 backbone, FPN, 1x schedule, COCO 2017.
_base_ = './mask-rcnn_ror-r50_fpn_1x_coco.py'

model = dict(backbone=dict(depth=101, init_cfg=dict(type='ResNetWarmStart', checkpoint='torchvision://resnet101')))
