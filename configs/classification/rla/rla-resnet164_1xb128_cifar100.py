# RLA-ResNet-164 on CIFAR-100, same recipe as rla-resnet110_1xb128_cifar10.py. Paper test error: 23.78%
# (ResNet-164 re-implemented: 25.22%).
_base_ = './rla-resnet110_1xb128_cifar100.py'

model = dict(backbone=dict(depth=164, rla_channels=8), head=dict(in_channels=256 + 8))
