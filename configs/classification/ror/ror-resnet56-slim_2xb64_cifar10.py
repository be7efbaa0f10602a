# Slim RoR-ResNet-56 (widths halved) on CIFAR-10, the RoR CIFAR recipe (see ror-resnet56_2xb64_cifar10.py).
# Paper test error: 6.17% (Residual: 7.17%, SDepth: 6.85%).
_base_ = './ror-resnet56_2xb64_cifar10.py'

model = dict(backbone=dict(slim=True), head=dict(in_channels=256))
