# Slim RoR-ResNet-56 (widths halved) on CIFAR-100, the RoR CIFAR recipe (see ror-resnet56_2xb64_cifar10.py).
# Paper test error: 27.14% (Residual: 29.75%, SDepth: 29.16%).
_base_ = './ror-resnet56_2xb64_cifar100.py'

model = dict(backbone=dict(slim=True), head=dict(in_channels=256))
