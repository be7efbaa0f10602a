# Slim RoR-ResNet-110 (widths halved) on CIFAR-10, the RoR CIFAR recipe (see ror-resnet56_2xb64_cifar10.py).
# Paper test error: 5.48% (Residual: 6.68%, SDepth: 5.93%).
_base_ = './ror-resnet56_2xb64_cifar10.py'

model = dict(backbone=dict(depth=110, slim=True), head=dict(in_channels=256))
