# RLA-ResNet-101 on ImageNet-1k, the RLA-Net recipe (see rla-resnet50_4xb64_in1k.py). Paper top-1 error: 21.48%.
_base_ = './rla-resnet50_4xb64_in1k.py'

model = dict(backbone=dict(depth=101))
