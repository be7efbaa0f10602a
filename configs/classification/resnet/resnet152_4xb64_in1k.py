# Plain ResNet-152, the RLA-Net recipe (see resnet50_4xb64_in1k.py).
_base_ = './resnet50_4xb64_in1k.py'

model = dict(backbone=dict(depth=152))
