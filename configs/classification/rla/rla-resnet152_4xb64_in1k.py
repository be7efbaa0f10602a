# RLA-ResNet-152 on ImageNet-1k, the RLA-Net recipe (see rla-resnet50_4xb64_in1k.py). Paper top-1 error: 21.22%.
_base_ = './rla-resnet50_4xb64_in1k.py'

model = dict(backbone=dict(depth=152))
