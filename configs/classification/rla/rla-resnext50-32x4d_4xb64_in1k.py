# RLA-ResNeXt-50 (32x4d) on ImageNet-1k: mmdet's ResNeXt blocks (32 groups of width 4 in the first stage) with the
# RLA state, the authors' rla_resnext50_32x4d (25,463,400 parameters); the RLA-Net recipe (see
# rla-resnet50_4xb64_in1k.py). The paper reports no ResNeXt result; the authors' code defines the model.
_base_ = './rla-resnet50_4xb64_in1k.py'

model = dict(backbone=dict(type='RLAResNeXt', groups=32, base_width=4))
