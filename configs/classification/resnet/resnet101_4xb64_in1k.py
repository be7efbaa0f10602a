# Plain ResNet-101, the RLA-Net recipe (see resnet50_4xb64_in1k.py); 44,549,160 parameters.
_base_ = './resnet50_4xb64_in1k.py'

model = dict(backbone=dict(depth=101))
