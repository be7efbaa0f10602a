# RLA-ResNeXt-101 (32x4d) on ImageNet-1k, the authors' rla_resnext101_32x4d (44,891,816 parameters); the RLA-Net
# recipe (see rla-resnet50_4xb64_in1k.py). Its backbone starts the RLA-ResNeXt-101 detectors in configs/rla/.
_base_ = './rla-resnext50-32x4d_4xb64_in1k.py'

model = dict(backbone=dict(depth=101))
